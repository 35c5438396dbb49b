#!/usr/bin/env bash
# Build STAC Browser once, for `stacgen serve`, into browser/dist (git-ignored): served at
# /browser/, hash history, no source maps. The catalog URL is not built in: the server answers
# /browser/config.js for whatever host and port it runs on.
#
# The npm package holds sources only, and its `ol-stac ^1.1.0` now resolves to 1.6.0, whose shims
# fail to compile. 1.4.0 compiles but brings stac-js 0.4, whose objects the map does not get from
# STAC Browser (stac-js 0.1), so it never shows a COG. tools/stac-browser/package.json is the
# package's own file with ol-stac pinned to 1.1.0 (stac-js ~0.1.8, what 4.0.1 was released with;
# the only change), and package-lock.json pins everything else; fields.config.js registers the
# catalog's own fields. The tarball is checked against
# the registry's sha512 recorded below.
#
# Usage: tools/build-browser.sh [OUT]   (OUT defaults to browser; the result is OUT/dist)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.0.1
INTEGRITY="sha512-Nu3pZzkJXfaS8JpsY1SjABMgr8W9swNmVa8RJoRetuDeMQ1+YibBRluC7G9ugzE/QECHD/9n3/8W/Ksz+UAC7w=="
RECIPE=tools/stac-browser
OUT="${1:-browser}"
WORK="$OUT/.build"
CONFIG_LINE='<!-- <script defer="defer" src="/config.js"></script> -->'

command -v npm >/dev/null || { echo "build-browser: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"
tarball="$(cd "$WORK" && npm pack --silent "@radiantearth/stac-browser@$VERSION")"
actual="$(node -e 'const c=require("crypto"),fs=require("fs");
  process.stdout.write("sha512-"+c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' \
  "$WORK/$tarball")"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "build-browser: $WORK/$tarball: checksum $actual, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$WORK/$tarball" -C "$WORK"
src="$WORK/package"
cp "$RECIPE/package.json" "$RECIPE/package-lock.json" "$src/"
# stacgen's field metadata (the alcd:* fields' titles and units, what the class table counts)
# in place of the package's empty fields.config.js.
cp "$RECIPE/fields.config.js" "$src/fields.config.js"

# Load config.js before the app, so the server can set catalogUrl (and the CRS) at run time.
grep -qF "$CONFIG_LINE" "$src/public/index.html" \
  || { echo "build-browser: $src/public/index.html: config.js line not found" >&2; exit 1; }
sed -i "s|$CONFIG_LINE|<script defer=\"defer\" src=\"<%= BASE_URL %>config.js\"></script>|" \
  "$src/public/index.html"
# No icon link: Chromium then asks the server root for /favicon.ico, which is not there, and
# logs a 404 on every page. An empty inline icon asks for nothing.
grep -q '<head>' "$src/public/index.html" \
  || { echo "build-browser: $src/public/index.html: <head> not found" >&2; exit 1; }
sed -i 's|<head>|<head><link rel="icon" href="data:,">|' "$src/public/index.html"
# stacgen.css: the catalog's tables and lists shown whole, not in scroll boxes of a few rows.
cp "$RECIPE/stacgen.css" "$src/public/stacgen.css"
sed -i 's|<head>|<head><link rel="stylesheet" href="<%= BASE_URL %>stacgen.css">|' \
  "$src/public/index.html"

(
  cd "$src"
  npm ci --no-audit --no-fund --loglevel=error
  npm run build -- --historyMode=hash --pathPrefix=/browser/ --noSourceMaps \
    --catalogTitle="ALCD reference cloud masks"
)
rm -rf "$OUT/dist.new"
mv "$src/dist" "$OUT/dist.new"
rm -rf "$OUT/dist"
mv "$OUT/dist.new" "$OUT/dist"
rm -rf "$WORK"
echo "STAC Browser $VERSION built in $OUT/dist"
