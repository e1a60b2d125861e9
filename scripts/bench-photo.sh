#!/usr/bin/env bash
# Photo pipeline vs vipsthumbnail on the same 4000×3000 camera-like JPEG (q92, 4:2:0), same run:
# wall time (mean/min of N runs), peak RSS (/usr/bin/time -v) and output bytes of
#   ours: the whole `examples/photo` process (decode, resize, encode, thumbnail, hash, store)
#   vips: VIPS_CONCURRENCY=1 vipsthumbnail IN.jpg --size 1600 -o out.jpg[Q=80,strip]
# plus the PSNR of both outputs against a full-resolution Lanczos-3 reference.
# Usage: scripts/bench-photo.sh [RUNS]   (needs libvips-tools; builds the example in release)
set -euo pipefail

RUNS="${1:-10}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

command -v vipsthumbnail >/dev/null || { echo "vipsthumbnail missing: apt-get install -y libvips-tools" >&2; exit 1; }

(cd "$ROOT" && cargo build --release -q -p xuncha-core --example photo)
OURS="$CARGO_TARGET_DIR/release/examples/photo"

# Camera-like content: smooth colour fields (Perlin), cell texture (Worley) and sensor grain.
IN="$WORK/IN.jpg"
(
  cd "$WORK"
  for band in 1 2 3; do
    vips perlin "p$band.v" 4000 3000 --cell-size $((180 * band)) --seed "$band"
  done
  vips bandjoin "p1.v p2.v p3.v" fields.v
  vips worley cells.v 4000 3000 --cell-size 48 --seed 4
  vips gaussnoise grain.v 4000 3000 --sigma 5 --mean 0 --seed 5
  vips linear fields.v fields_scaled.v "90 90 90" "128 120 110"
  vips linear cells.v cells_scaled.v 1.4 " -30"
  vips add fields_scaled.v cells_scaled.v textured.v
  vips add textured.v grain.v noisy.v
  vips cast noisy.v camera.v uchar
  vips jpegsave camera.v "$IN" --Q 92 --subsample-mode on --strip
)

declare -A TOTAL_MS MIN_MS PEAK_KB USER_S SYS_S
run_once() { # name, command...: one timed run, accumulated into the tables above
  local name="$1"; shift
  rm -rf "$WORK/out_$name"; mkdir -p "$WORK/out_$name"
  local start end ms rss
  start=$(date +%s%N)
  /usr/bin/time -v -o "$WORK/time_$name" "$@" >/dev/null
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  TOTAL_MS[$name]=$(( ${TOTAL_MS[$name]:-0} + ms ))
  (( ms < ${MIN_MS[$name]:-999999} )) && MIN_MS[$name]=$ms
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time_$name")
  (( rss > ${PEAK_KB[$name]:-0} )) && PEAK_KB[$name]=$rss
  USER_S[$name]=$(awk -v a="${USER_S[$name]:-0}" -v b="$(awk -F': ' '/User time/ {print $2}' "$WORK/time_$name")" 'BEGIN {print a + b}')
  SYS_S[$name]=$(awk -v a="${SYS_S[$name]:-0}" -v b="$(awk -F': ' '/System time/ {print $2}' "$WORK/time_$name")" 'BEGIN {print a + b}')
}
report() { # name
  local n="$1"
  echo "$n: wall mean $(( TOTAL_MS[$n] / RUNS )) ms, min ${MIN_MS[$n]} ms; CPU user+sys mean $(awk -v u="${USER_S[$n]}" -v s="${SYS_S[$n]}" -v r="$RUNS" 'BEGIN {printf "%.0f", (u + s) * 1000 / r}') ms; peak RSS ${PEAK_KB[$n]} KiB"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "input: $(vipsheader "$IN") $(stat -c %s "$IN") bytes; runs: $RUNS"
# Warm the page cache for both binaries and the input.
"$OURS" "$IN" "$WORK/warm" >/dev/null
VIPS_CONCURRENCY=1 vipsthumbnail "$IN" --size 1600 -o "$WORK/warm.jpg[Q=80,strip]"

# Interleaved, so load from other processes on the machine hits both alike.
for _ in $(seq "$RUNS"); do
  run_once ours "$OURS" "$IN" "$WORK/out_ours"
  run_once vips env VIPS_CONCURRENCY=1 vipsthumbnail "$IN" --size 1600 -o "$WORK/out_vips/out.jpg[Q=80,strip]"
done
report ours
report vips

OURS_JPG="$(find "$WORK/out_ours" -name '*.jpg' ! -name '*_thumb.jpg')"
VIPS_JPG="$WORK/out_vips/out.jpg"
echo "ours output: $(vipsheader "$OURS_JPG") $(stat -c %s "$OURS_JPG") bytes (+ thumbnail $(stat -c %s "${OURS_JPG%.jpg}_thumb.jpg") bytes)"
echo "vips output: $(vipsheader "$VIPS_JPG") $(stat -c %s "$VIPS_JPG") bytes (no thumbnail)"

# Quality: PSNR of each against a full-resolution decode resized with Lanczos-3 (no shrink-on-load).
vips resize "$IN" "$WORK/ref.v" 0.4 --kernel lanczos3
psnr() {
  vips subtract "$WORK/ref.v" "$1" "$WORK/diff.v"
  vips multiply "$WORK/diff.v" "$WORK/diff.v" "$WORK/sq.v"
  local mse; mse=$(vips avg "$WORK/sq.v")
  awk -v m="$mse" 'BEGIN { printf "%.2f dB", 10 * log(255 * 255 / m) / log(10) }'
}
echo "PSNR vs reference: ours $(psnr "$OURS_JPG"), vips $(psnr "$VIPS_JPG")"
