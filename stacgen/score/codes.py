"""Class code tables: how each processor's mask values map to clear / cloud / shadow / no data.

Every built-in table lives here, once, with its source. A table turns the mask's native values
into group codes (`NODATA`, `CLEAR`, `CLOUD`, `SHADOW`) through `decoding.TableDecoder`; a value
that the table does not list is an error naming the values and their pixel counts.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from stacgen.fileutil import JsonFileError, read_json_object
from stacgen.score.errors import ScoreError

Groups = npt.NDArray[np.uint8]
log = logging.getLogger(__name__)

# Group codes, the same on the user's mask and on the reference once decoded.
NODATA: Final = 0
CLEAR: Final = 1
CLOUD: Final = 2
SHADOW: Final = 3
UNLISTED: Final = 255
GROUP_NAMES: Final = {NODATA: "nodata", CLEAR: "clear", CLOUD: "cloud", SHADOW: "shadow"}
GROUP_BY_NAME: Final = {name: code for code, name in GROUP_NAMES.items()}

Class1 = Literal["ignore", "clear"]
# The widest integers a mask may hold: a code file's values must fit in them.
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
# What `stacgen masks detect` writes where a detector saw no valid input pixel.
DETECTED_NODATA: Final = 255


@dataclass(frozen=True)
class CodeTable:
    """How one processor's values map to groups.

    `groups` lists the native values of each group (for the bit masks: every 8-bit value);
    `bits` describes a bit-mask layout for people; `has_shadow` is False for masks that have no
    shadow class (their shadow metrics are not applicable); `probability` marks s2cloudless,
    whose float 0-1 or uint8 0-100 probability rasters are thresholded with `--threshold`.
    """

    name: str
    source: str
    groups: Mapping[str, tuple[int, ...]]
    has_shadow: bool = True
    probability: bool = False
    bits: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """The table as recorded in scores.json."""
        if self.bits:
            return {"name": self.name, "source": self.source, "bits": dict(self.bits)}
        return {"name": self.name, "source": self.source, "groups": dict(self.groups)}


def _table(name: str, source: str, **groups: Iterable[int]) -> CodeTable:
    listed = {g: tuple(v) for g, v in groups.items()}
    return CodeTable(name, source, listed, has_shadow="shadow" in listed)


def _bit_table(
    name: str, source: str, cloud_bits: tuple[int, ...], shadow_bits: tuple[int, ...]
) -> CodeTable:
    """An 8-bit mask: cloud wins over shadow; bit 0 alone ("cloud or shadow") counts as cloud."""
    groups: dict[str, list[int]] = {"clear": [], "cloud": [], "shadow": []}
    for value in range(256):
        on = {b for b in range(8) if value >> b & 1}
        if on & set(cloud_bits) or on == {0}:
            groups["cloud"].append(value)
        elif on & set(shadow_bits):
            groups["shadow"].append(value)
        elif not on:
            groups["clear"].append(value)
        else:
            groups["cloud"].append(value)  # bit 0 plus only unnamed bits: still "cloud"
    bits = {"any": (0,), "cloud": cloud_bits, "shadow": shadow_bits}
    return CodeTable(name, source, {g: tuple(v) for g, v in groups.items()}, bits=bits)


# Sen2Cor Scene Classification (SCL), Sen2Cor 2.x Product Specification / L2A PDD: 0 no data,
# 1 saturated or defective, 2 dark area (2.x: "topographic shadows"), 3 cloud shadows,
# 4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 8 cloud medium probability, 9 cloud
# high probability, 10 thin cirrus, 11 snow. The grouping is the one of Baetens et al. 2019.
SEN2COR: Final = _table(
    "sen2cor",
    "Sen2Cor SCL (L2A Product Specification); grouping of Baetens et al. 2019",
    nodata=(0, 1),
    shadow=(3,),
    cloud=(8, 9, 10),
    clear=(2, 4, 5, 6, 7, 11),
)
# GERSL Fmask 4.x / 5 (github.com/GERSL/Fmask, README "output"): 0 clear land, 1 clear water,
# 2 cloud shadow, 3 snow, 4 cloud, 255 no observation.
FMASK4: Final = _table(
    "fmask4",
    "GERSL Fmask 4.x/5 README: 0 land, 1 water, 2 shadow, 3 snow, 4 cloud, 255 no data",
    clear=(0, 1, 3),
    shadow=(2,),
    cloud=(4,),
    nodata=(255,),
)
# python-fmask (ubarsc/python-fmask, fmask.fmask: OUTCODE_*): 0 null, 1 clear, 2 cloud,
# 3 shadow, 4 snow, 5 water.
PYTHON_FMASK: Final = _table(
    "python-fmask",
    "python-fmask OUTCODE_* constants: 0 null, 1 clear, 2 cloud, 3 shadow, 4 snow, 5 water",
    nodata=(0,),
    clear=(1, 4, 5),
    cloud=(2,),
    shadow=(3,),
)
# MAJA in the Theia (MUSCATE) format, CLM_R1/R2 (Theia L2A product format): bit 0 all clouds
# except the thinnest and all shadows, 1 all clouds except the thinnest, 2 and 3 clouds from
# the mono- and multi-temporal tests, 4 thinnest clouds, 5 shadows of detected clouds, 6 shadows
# of clouds outside the image, 7 high clouds: for Sentinel-2 the 1.38 um (band 10) cirrus test
# (stereoscopy is VENuS's bit 7, not Sentinel-2's).
MAJA_THEIA: Final = _bit_table(
    "maja-theia",
    "MAJA Theia/MUSCATE CLM bit mask (Theia L2A format): clouds bits 1-4, 7; shadows bits 5, 6",
    cloud_bits=(1, 2, 3, 4, 7),
    shadow_bits=(5, 6),
)
# MAJA's native (EarthExplorer) CLD mask: bit 0 any cloud or shadow, 1 clouds from reflectance,
# 2 and 3 shadows (of detected clouds, of clouds outside the image), 4 and 5 cloud tests,
# 6 thinnest clouds (cirrus), 7 high clouds.
MAJA_NATIVE: Final = _bit_table(
    "maja-native",
    "MAJA native CLD bit mask: clouds bits 1, 4-7; shadows bits 2, 3",
    cloud_bits=(1, 4, 5, 6, 7),
    shadow_bits=(2, 3),
)
# s2cloudless (sentinel-hub/sentinel2-cloud-detector): get_cloud_masks gives 0 clear, 1 cloud;
# get_cloud_probability_maps gives a 0-1 probability (often stored as uint8 0-100). No shadows.
# 255 is no data in the masks `stacgen masks detect` writes (their declared nodata too), a value
# the package's 0/1 masks never hold.
S2CLOUDLESS: Final = CodeTable(
    "s2cloudless",
    "s2cloudless cloud masks (0 clear, 1 cloud; 255 no data as stacgen masks writes them) or "
    "probabilities with --threshold; no shadows",
    {"clear": (0,), "cloud": (1,), "nodata": (DETECTED_NODATA,)},
    has_shadow=False,
    probability=True,
)
# CloudSEN12 labels (Aybar et al. 2022, Scientific Data): 0 clear, 1 thick cloud, 2 thin cloud,
# 3 cloud shadow.
CLOUDSEN12: Final = _table(
    "cloudsen12",
    "CloudSEN12 (Aybar et al. 2022): 0 clear, 1 thick cloud, 2 thin cloud, 3 shadow",
    clear=(0,),
    cloud=(1, 2),
    shadow=(3,),
)
# KappaMask (kappazeta/km_predict README, class table; Domnich et al. 2021): 0 undefined,
# 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud, 5 missing (no data).
KAPPAMASK: Final = _table(
    "kappamask",
    "KappaMask km_predict README (Domnich et al. 2021): 0 undefined, 1 clear, 2 shadow, "
    "3 semi-transparent, 4 cloud, 5 missing",
    nodata=(0, 5),
    clear=(1,),
    shadow=(2,),
    cloud=(3, 4),
)
# ukis-csmask 1.0.0 (dlr-eoc/ukis-csmask, ukis_csmask/mask.py, CSmask.csm): "class ids:
# 0=background, 1=clouds, 2=cloud shadows". Its no data is in the separate `valid` output, not
# in `csm`; 255 is no data in the masks `stacgen masks detect` writes (declared nodata too).
UKIS_CSMASK: Final = _table(
    "ukis-csmask",
    "ukis-csmask 1.0.0 CSmask.csm (dlr-eoc/ukis-csmask mask.py): 0 background, 1 clouds, "
    "2 cloud shadows; 255 no data as stacgen masks writes them",
    clear=(0,),
    cloud=(1,),
    shadow=(2,),
    nodata=(DETECTED_NODATA,),
)
# OmniCloudMask (DPIRD-DMA/OmniCloudMask README, predict_from_array; Wright et al. 2025, Remote
# Sensing of Environment): "0=Clear, 1=Thick Cloud, 2=Thin Cloud, 3=Cloud Shadow". The README
# gives no code for the input's no-data pixels: only a raster's declared nodata is no data.
OMNICLOUDMASK: Final = _table(
    "omnicloudmask",
    "OmniCloudMask README (predict_from_array): 0 clear, 1 thick cloud, 2 thin cloud, "
    "3 cloud shadow",
    clear=(0,),
    cloud=(1, 2),
    shadow=(3,),
)


def alcd_table(class_1: Class1 = "ignore") -> CodeTable:
    """The reference's own codes (ALCD.md): 2, 3 cloud; 4 shadow; 5, 6, 7 clear; 0 no data.

    Class 1 (ALCD's "background", used by no published product) is ignored by default; the
    ALCD code counts it as clear (`class_1="clear"`).
    """
    nodata = (0, 1) if class_1 == "ignore" else (0,)
    clear = (5, 6, 7) if class_1 == "ignore" else (1, 5, 6, 7)
    return _table(
        "alcd",
        f"ALCD classification_map.tif (Baetens & Hagolle 2018); class 1 {class_1}",
        nodata=nodata,
        cloud=(2, 3),
        shadow=(4,),
        clear=clear,
    )


BUILTIN: Final = {
    t.name: t
    for t in (
        SEN2COR,
        FMASK4,
        PYTHON_FMASK,
        MAJA_THEIA,
        MAJA_NATIVE,
        S2CLOUDLESS,
        CLOUDSEN12,
        KAPPAMASK,
        UKIS_CSMASK,
        OMNICLOUDMASK,
        alcd_table(),
    )
}


# FMask 5 (GERSL Fmask 5.0) is partly learned, and its training set includes these references:
# its scores against them are no independent validation. A mask counts as FMask 5 when its
# name, or one of its GeoTIFF tags, says "fmask" then "5" (fmask5, Fmask_5.0, FMASK v5 ...), or
# a tag names Fmask and a *version* tag starts with 5.
FMASK5_NAME: Final = re.compile(r"f[\W_]*mask[\W_]*(?:v(?:ersion)?[\W_]*)?5(?![0-9])", re.I)
FMASK5_WARNING: Final = (
    "{what}: named or tagged as FMask 5, whose training set includes these ALCD references: "
    "its scores against them are not an independent validation"
)


def fmask5_reason(name: str, tags: Mapping[str, str] | None = None) -> str | None:
    """Why a mask called `name` with GeoTIFF `tags` is taken for FMask 5, or None."""
    if FMASK5_NAME.search(name):
        return f"the name {name!r}"
    tags = tags or {}
    for key, value in tags.items():
        if FMASK5_NAME.search(str(value)):
            return f"the tag {key}={value!r}"
    if any("fmask" in str(v).lower() for v in tags.values()):
        for key, value in tags.items():
            if "version" in key.lower() and str(value).strip().lstrip("vV").startswith("5"):
                return f"the tags naming Fmask and {key}={value!r}"
    return None


def warn_fmask5(masks: Iterable[str | Path], processor: str | None = None) -> list[str]:
    """A warning (logged, and returned) for each mask named or tagged as FMask 5."""
    import rasterio  # only when masks are checked: `import stacgen.score.codes` stays light

    found = []
    for mask in masks:
        try:
            with warnings.catch_warnings():
                # only the tags are read here; scoring says what is wrong with the file
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                with rasterio.open(mask) as ds:
                    tags = {str(k): str(v) for k, v in ds.tags().items()}
        except rasterio.errors.RasterioError:
            tags = {}
        reason = fmask5_reason(Path(mask).name, tags)
        if reason is None and processor is not None:
            reason = fmask5_reason(processor)
        if reason is not None:
            found.append(FMASK5_WARNING.format(what=f"{mask} ({reason})"))
    for w in found:
        log.warning("%s", w)
    return found


def load_codes(spec: str | Path, class_1: Class1 = "ignore") -> CodeTable:
    """A built-in table by name, or a JSON file `{"cloud": [...], "shadow": [...], ...}`."""
    if isinstance(spec, str) and spec in BUILTIN:
        return alcd_table(class_1) if spec == "alcd" else BUILTIN[spec]
    path = Path(spec)
    if path.suffix.lower() != ".json" or not path.is_file():
        names = ", ".join(BUILTIN)
        raise ScoreError(f"--codes {spec}: neither a built-in table ({names}) nor a JSON file")
    return _json_table(path)


def _json_table(path: Path) -> CodeTable:
    try:
        obj = read_json_object(path)
    except JsonFileError as err:
        raise ScoreError(f"{path}: not a readable JSON code file ({err.reason})") from err
    if not obj or set(obj) - set(GROUP_BY_NAME):
        raise ScoreError(f"{path}: keys must be among cloud, shadow, clear, nodata")
    groups: dict[str, tuple[int, ...]] = {}
    seen: dict[int, str] = {}
    for name, values in obj.items():
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            raise ScoreError(f"{path}: {name!r} must be a list of integers")
        for v in values:
            if not INT64_MIN <= v <= INT64_MAX:
                digits = str(abs(v))
                raise ScoreError(
                    f"{path}: a value in {name!r} has {len(digits)} digits ({digits[:8]}...): "
                    "beyond any mask's integers (64 bits)"
                )
            if v in seen:
                where = (
                    f"twice in {name!r}" if seen[v] == name else f"in both {seen[v]!r} and {name!r}"
                )
                raise ScoreError(f"{path}: value {v} is {where}")
            seen[v] = name
        groups[name] = tuple(values)
    if not seen:
        raise ScoreError(f"{path}: lists no value")
    return CodeTable(path.name, str(path), groups, has_shadow=bool(groups.get("shadow")))
