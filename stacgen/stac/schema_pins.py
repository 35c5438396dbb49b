"""The sha256 of each JSON Schema stacgen may fetch: a fetched schema whose bytes differ is refused.

The digests are those of the files served at these URLs (each copied from the public repository
that publishes it: radiantearth/stac-spec, the stac-extensions/* gh-pages branches, geojson/schema,
OSGeo/PROJ, jsonschema-specifications), as recorded with the project's schema mirror. They cover
the STAC core 1.0.0 and 1.1.0, every published version of the extensions stacgen writes, and every
schema these `$ref`. A URL not listed here is not fetched; STACGEN_SCHEMAS names a mirror that
may hold it.
"""

from __future__ import annotations

from typing import Final

SCHEMA_SHA256: Final[dict[str, str]] = {
    "http://json-schema.org/draft-07/schema": (
        "3d5392088261606c559b603f385329c9f1ab45b5d667eb990687453b055d405e"
    ),
    "https://geojson.org/schema/Feature.json": (
        "3957840b2ff19f9450ea97a12f85944d938c68a7a6bf115a2e69b98e007b9922"
    ),
    "https://geojson.org/schema/FeatureCollection.json": (
        "83e781f1513e447be9287b2180c300621f8b4c65245d7822a22fcf39431e0471"
    ),
    "https://geojson.org/schema/GeoJSON.json": (
        "5456d0bdf070d3b654ee6b78c7d807c2663756931cf9f5e50726ed6241535666"
    ),
    "https://geojson.org/schema/Geometry.json": (
        "152369d7eb6b3314ffc7deca1d66f9d498ed5b614ca38ed4e2c813fed01024fd"
    ),
    "https://geojson.org/schema/GeometryCollection.json": (
        "f33321639349bcb02300f560e5bb46bfc786cec2d6a5195778c5d480856e2e71"
    ),
    "https://geojson.org/schema/LineString.json": (
        "38089f2d5b0ff4b14a3252266d12b589f5f0e7bcb6cf49558801065c9ed02ecb"
    ),
    "https://geojson.org/schema/MultiLineString.json": (
        "1ed66d341ae8220a0f969accf6783ce356bade856ab61691ee8c6c5b951e3764"
    ),
    "https://geojson.org/schema/MultiPoint.json": (
        "402f60cda7dd391e4f1f596143a243a7360d2b7e6f01a7f26a32a773267ffb95"
    ),
    "https://geojson.org/schema/MultiPolygon.json": (
        "3d6e592c494264394e7252361b3e65acf4c31716a3d2106338dbcfb6f5fde55a"
    ),
    "https://geojson.org/schema/Point.json": (
        "35dd9cc5537e3a02a58ec63c22001508bd0c26036803f86004bb7cad0e9ad8b1"
    ),
    "https://geojson.org/schema/Polygon.json": (
        "abff591832563d1343e8cacb5faaafe7b104560ac83d33d47b158446775c464a"
    ),
    "https://proj.org/schemas/v0.1/projjson.schema.json": (
        "afda6f5446e401c1abb5b1beabd9aacf6f5d38d38d79088ec9b0e7fc787d9638"
    ),
    "https://proj.org/schemas/v0.2/projjson.schema.json": (
        "8f1dfb86bd828b1bc7a289926bd94c358f24f94c6b71bd30ac306cdd6810f454"
    ),
    "https://proj.org/schemas/v0.3/projjson.schema.json": (
        "eadfec48c7fb5d123eb1ab80229812c59ae97ab4386b585a7b0a802bc7d3d98e"
    ),
    "https://proj.org/schemas/v0.4/projjson.schema.json": (
        "16e5e7b24b79db827fbfe0ec58730e8b29e0a9477528c0664e4b437f6fe2ce72"
    ),
    "https://proj.org/schemas/v0.5/projjson.schema.json": (
        "d7d92c13bf545d03307cf52f1efef9a0339c7a2ac9f626a6616ad5c66e2e7e7c"
    ),
    "https://proj.org/schemas/v0.6/projjson.schema.json": (
        "8dee2229ad2e9f902cc5816ed0174c5afa50281aa5a2e2cd2d6bc3111b9eb873"
    ),
    "https://proj.org/schemas/v0.7/projjson.schema.json": (
        "67f090556bae996522edad482597c0f9e1b919ca4c9288ac9f8f7cd4180f49b6"
    ),
    "https://schemas.stacspec.org/v1.0.0/catalog-spec/json-schema/catalog.json": (
        "7f672732102ac3ffd29c422ca2de0997be5666f3865711f96ba67969d10e4170"
    ),
    "https://schemas.stacspec.org/v1.0.0/collection-spec/json-schema/collection.json": (
        "f0e98830f53a44b03456e488be30d8230c0a1df9045cb25a8348a63c6c5fee1c"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/basics.json": (
        "66a60a5f7bba2baac3dd69bce0a8569e56ddbc31cfe6a77e1586e38c84b73040"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/datetime.json": (
        "f487bd076213091289bc496c1a641fd05e79834b8bca108374cd693ecff3a1fc"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/instrument.json": (
        "886d00cc1f4256ea57e42047761ac7f15afa33fd773eb9675a58bfdb73f18d79"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json": (
        "bdf0e4f5b5b37b609d10e6383191ce55a2a18f8105d1d3b0b1cb3064ce70a4a0"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/licensing.json": (
        "3dbdb067f887f04f6d398d5947b5f0a857c75b647544c10076796a985b23b10b"
    ),
    "https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/provider.json": (
        "9f7e7c3840b53f487ae855c21f6fd05deedee51de5dfb51fa4be7a53f5797132"
    ),
    "https://schemas.stacspec.org/v1.1.0/catalog-spec/json-schema/catalog.json": (
        "d82974d084fb600ec0e92d6962ef536157eda6d36bbb4299e8235a6042efbeed"
    ),
    "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json": (
        "c2106427e6b7a7a2c1b6fef980d9df332c4000e8676efa2aba7a1dbcd1914ccf"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/bands.json": (
        "0a44673eda5cf49ad83247ebf50bffc9eac6cd126d4778c0f17a64b21002818e"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/basics.json": (
        "c11193fa08465b53257e93ea4e8c0c671806485ece9b2482447c792f2e9b7809"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/common.json": (
        "9f1bb9d24a94d7f519cc2c478b6581c0d9a66117518376ac1a71ec5643ad3fd7"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/data-values.json": (
        "5ca5d324272b76188fd70391b6d57fa0438d87fa8dfa5b6f2fd15af57bff9539"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/datetime.json": (
        "2656b4bec14ee63b0c17c7a68caeba4a10a5ba3bfe018e4d23ebd8b6efb5fd9f"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/instrument.json": (
        "09cd369e88c2f7c248683d922fd90e3ab2e7e832b86e6130722d8a0bf27cdd78"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json": (
        "d38ed83cda8c93f5f2f4967ba2be398e9d7407aa1c3210f9c27bbbc4e8ba35e2"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/licensing.json": (
        "b4f882c70c6616698fa3c390d1efbdc59816129f36a6173769fbf07655313726"
    ),
    "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/provider.json": (
        "2db89bb50a352aaece743173742fa450cbb5fb4583fe3a237968054aeaea86ad"
    ),
    "https://stac-extensions.github.io/classification/v1.0.0/schema.json": (
        "b1e963c7aeda4c9b5988241d1d55b85e29023b2ac75eb697397386561ceb24f7"
    ),
    "https://stac-extensions.github.io/classification/v1.1.0/schema.json": (
        "70a64a6e34495dc3fd3e49a61dd4c7d901d7c1e38fd0f60f3f8be5b012f4a4a4"
    ),
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json": (
        "88644b2d1fdbae3e7e71ef52b35c9d9e11355a7bfba827f67c9b18594ba361a0"
    ),
    "https://stac-extensions.github.io/eo/v1.0.0/schema.json": (
        "74687559c9d9b36190e3dc7e1fceb83bfe6ac6a7879338311c07691c989dab51"
    ),
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json": (
        "67be0a5832c8533043ae9d50ae0a6f9d3082247bd654b724b6559d710cdd82f4"
    ),
    "https://stac-extensions.github.io/eo/v2.0.0-beta.1/schema.json": (
        "360c87f2ca8bec28089181dd9f3af21f50378e631741511c35a2f66009b2bd38"
    ),
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json": (
        "7430cb2bac7ad4f0b401dacb78531c84adaa4c07903b6d9fd528a1e1e136d1af"
    ),
    "https://stac-extensions.github.io/file/v1.0.0/schema.json": (
        "6dc05794757a39de95dc9d8602b30e8b5e2ba0e8c1063a0522e69811a0be1f25"
    ),
    "https://stac-extensions.github.io/file/v2.0.0/schema.json": (
        "f0cb5aa87f78ca120fe8f74710e175698b5d7f9f846b295eedf768fe0b0f97a7"
    ),
    "https://stac-extensions.github.io/file/v2.1.0/schema.json": (
        "03567215bb1402f5104ca9919daaa5bbfe9456a499f185606247b4b2d1f23ad1"
    ),
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json": (
        "9637929dbdb547c3a8e39fe54643d21290ab0fcd8eca4b0b47b07a75f3a65236"
    ),
    "https://stac-extensions.github.io/item-assets/v1.0.0/schema.json": (
        "28cc2bbee1986d08d9cc08fcb11d7d230178e8105329d4132f803a49429353ae"
    ),
    "https://stac-extensions.github.io/label/v1.0.0/schema.json": (
        "a3982c840fd0e754f1fd29f01f52fe971551db830e12a1a3a4f3870c39aed918"
    ),
    "https://stac-extensions.github.io/label/v1.0.1/schema.json": (
        "729528a1ea57f1aafda67ec821c4f7d8434f3f4a47a27126775ccffa0509959f"
    ),
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json": (
        "0876eab6503435c734993f745d6bf13f15b80b19b8ced147ea3ec581afcb2bc9"
    ),
    "https://stac-extensions.github.io/ml-aoi/v0.1.0/schema.json": (
        "19ae8108f3628cfc8e86806108fa0a3ea3f9d77132335ba71bcccc240eb7275e"
    ),
    "https://stac-extensions.github.io/ml-aoi/v0.2.0/schema.json": (
        "991a5ff02f77d057a35ed95f0fe777f5591c529c52ed8d9d75c9d088fb457bf0"
    ),
    "https://stac-extensions.github.io/processing/v1.0.0/schema.json": (
        "ce81fde79e5f863fe71373808eb155f6bf6aba5dd30a3e4b0b9d41613e0e84cb"
    ),
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json": (
        "74e5f5ed3a659e455060fe593b8336e4bb4e4df0113cc4b9cf75cbc136eb58f3"
    ),
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json": (
        "a245a18ef537b2f1fddc7cbb833d48e1422378db953787c8f62e34bd5b7952fb"
    ),
    "https://stac-extensions.github.io/projection/v1.0.0/schema.json": (
        "26370a8d476f634fed15bb15d40b82f55751b03ca00dba6cec5b401e065d3c5a"
    ),
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json": (
        "a7190c875d6ac2f4836f6e4ff8e14c614d561157aa4349d6386b4238f4e7a308"
    ),
    "https://stac-extensions.github.io/projection/v1.2.0/schema.json": (
        "34cd9940d683a4f9f2f0b060dc79383697a43d4656b80b588c18f5fac90659b1"
    ),
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": (
        "77dd829eb10f5ea8b9660cece70020c5f864401e286df638567f33afba5a6fce"
    ),
    "https://stac-extensions.github.io/raster/1.1.0/schema.json": (
        "e5c43a194d872df7fd310531a2c53ab6edd96783edf1cb01da358bd42f565503"
    ),
    "https://stac-extensions.github.io/raster/v1.0.0/schema.json": (
        "d04c94a070954c61e58ab33104e03ce284316e02bc87dd8a6de0c6236802e524"
    ),
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": (
        "e5c43a194d872df7fd310531a2c53ab6edd96783edf1cb01da358bd42f565503"
    ),
    "https://stac-extensions.github.io/raster/v2.0.0-beta.1/schema.json": (
        "49b6bc8b0027ddf884dabe8b3a5043665986f74bef095cf5c5a7a9be70c597f6"
    ),
    "https://stac-extensions.github.io/raster/v2.0.0/schema.json": (
        "f0436f882d0d9b2a4deb432852ccd6efa506f733ca96a4f38efbb2f9ebb58037"
    ),
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json": (
        "4c6d03a1dfe764ed10ddd0122252219fcbf76747f6261712a2de36e10cbe481f"
    ),
    "https://stac-extensions.github.io/sat/v1.1.0/schema.json": (
        "ecbf857e76b91e702d3bef1f468a1719d4707252d38b893ef34bebf0b5f04b2d"
    ),
    "https://stac-extensions.github.io/sat/v1.2.0/schema.json": (
        "baf261cf89516f718292b1c38dd2a5510b7a5f62cac063805565ae2d2e7990ea"
    ),
    "https://stac-extensions.github.io/scientific/v1.0.0/schema.json": (
        "fab3f50346dab2cb78c621f633e51b79b64ea894ace085867b28e97745e521bb"
    ),
    "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json": (
        "0cc0f9199861702b241292242120946fb34b56748323db175adbecfce4f11826"
    ),
    "https://stac-extensions.github.io/table/v1.0.0/schema.json": (
        "42538a278a5a9aad965f1881181b7233dfe61de29df614d48ff3de36f8cc7aa3"
    ),
    "https://stac-extensions.github.io/table/v1.0.1/schema.json": (
        "5754c70fc467cba55b8196121ef68fb1e29ee6ebd6e682d7285d0f6df363719a"
    ),
    "https://stac-extensions.github.io/table/v1.1.0/schema.json": (
        "eb1de61c55c81d9b3c1d8ee5c4f4af445a60a2f0868b4274b4ebdd1d230fde13"
    ),
    "https://stac-extensions.github.io/table/v1.2.0/schema.json": (
        "f31b81a6a5d64e565a7c8108e4f612ae739ea81fd6f9c33a1d55e821d0f64b95"
    ),
    "https://stac-extensions.github.io/version/v1.0.0/schema.json": (
        "3989ab9dc392945eb3f5a0fe1ede67c79bbe1e8919ed7685e6118acad0c45f0f"
    ),
    "https://stac-extensions.github.io/version/v1.1.0/schema.json": (
        "7df8a7fcc6b80b4f8f3ee2c4f656312ab065aa04a86e5b6e096ca3fc90f94e26"
    ),
    "https://stac-extensions.github.io/version/v1.2.0/schema.json": (
        "b1590d8c9599db824b01b06caf993bfd903b503bd548d6b58b4c413b20b4333e"
    ),
    "https://stac-extensions.github.io/view/v1.0.0/schema.json": (
        "b27e120a9ef059e4a8a905406269a8251cd167f818c5aabb28e6b6e23b92b505"
    ),
    "https://stac-extensions.github.io/view/v1.1.0/schema.json": (
        "6ac62fa971b486a031b39f8667b09f226257642cc36d7119e9ff02c0a75293d6"
    ),
}

# The extensions of the L1C product's fields on the label items (`grid:code`, `s2:*`): pinned
# above from the files GitHub Pages serves (the gh-pages branches of stac-extensions/grid at
# 056c0ce, where v1.1.0 is also byte for byte pystac's bundled copy, and
# stac-extensions/sentinel-2 at 7fb2b01), but not in the project's mirror
# (../shared/stac-schemas) when they were added. Validation checks them when its schema source
# holds them and otherwise says that it did not, instead of failing.
GRID_SCHEMA: Final = "https://stac-extensions.github.io/grid/v1.1.0/schema.json"
SENTINEL2_SCHEMA: Final = "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json"
UNMIRRORED_SCHEMAS: Final = frozenset({GRID_SCHEMA, SENTINEL2_SCHEMA})
