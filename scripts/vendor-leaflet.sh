#!/usr/bin/env bash
# Vendors Leaflet (BSD-2-Clause) into server/assets/vendor/leaflet/ from the npm registry, so the
# dashboard map needs no CDN (the CSP allows only this origin). Re-run to reproduce the files;
# bump LEAFLET_VERSION to upgrade. The dashboard embeds these files with include_str!/include_bytes!.
set -euo pipefail
LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.4}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/server/assets/vendor/leaflet"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET_VERSION" >/dev/null && tar xzf "leaflet-$LEAFLET_VERSION.tgz")
rm -rf "$dest"
mkdir -p "$dest/images"
cp "$tmp/package/dist/leaflet.js" "$tmp/package/dist/leaflet.css" "$dest/"
cp "$tmp/package/dist/images/"*.png "$dest/images/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "leaflet $LEAFLET_VERSION (npm: leaflet@$LEAFLET_VERSION, dist/)" > "$dest/VERSION"
ls -l "$dest" "$dest/images"
