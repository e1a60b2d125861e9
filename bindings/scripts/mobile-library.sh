#!/usr/bin/env bash
# The phone library as phones get it (issue 17): checks that the `mobile` build of xuncha-ffi links
# no HTTP or TLS stack of its own (the app's platform transport does HTTP), then cross-builds it
# for aarch64 (arm64-v8a, the ABI the size goal is measured on) with the `mobile` profile and
# prints its stripped and gzip -9 sizes. Fails if a forbidden crate appears or the library is over
# the goal (MOBILE_SIZE_LIMIT bytes, default 4,000,000). Called by scripts/test-all.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=aarch64-unknown-linux-gnu
limit=${MOBILE_SIZE_LIMIT:-4000000}

echo "-- mobile feature set: no reqwest, hyper, rustls, ring or bundled roots"
# `-p xuncha-ffi` resolves features for the phone library alone, as cargo-ndk / Xcode build it
# (the workspace build turns on `reqwest-transport` for the e2e tests; that must not leak in).
tree=$(cargo tree -p xuncha-ffi --target "$target" -e normal,build,features --prefix none)
forbidden=$(printf '%s\n' "$tree" | grep -E '^(reqwest|hyper|hyper-util|hyper-rustls|rustls|rustls-webpki|ring|webpki-roots|webpki-root-certs|aws-lc-rs|aws-lc-sys|native-tls|openssl) (v|feature)' | sort -u || true)
if [ -n "$forbidden" ]; then
  echo "!! the mobile build of xuncha-ffi links an HTTP/TLS stack:" >&2
  printf '%s\n' "$forbidden" >&2
  exit 1
fi
echo "   none ($(printf '%s\n' "$tree" | grep -cE '^[a-z0-9_-]+ v' ) crate entries checked)"

echo "-- aarch64 cross toolchain"
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "missing gcc-aarch64-linux-gnu and not root" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

echo "-- xuncha-ffi, profile mobile, $target"
start=$(date +%s)
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
  cargo build -p xuncha-ffi --lib --profile mobile --target "$target"
target_dir=${CARGO_TARGET_DIR:-target}
lib=$target_dir/$target/mobile/libxuncha_ffi.so
size=$(stat -c %s "$lib")
gz=$(gzip -9 -c "$lib" | wc -c)
echo "   built in $(( $(date +%s) - start )) s: $lib"
printf "   aarch64 mobile library: %s B stripped (%s MB), %s B gzip -9; goal <= %s B\n" \
  "$size" "$(awk "BEGIN{printf \"%.2f\", $size/1000000}")" "$gz" "$limit"
if [ "$size" -gt "$limit" ]; then
  echo "!! the aarch64 mobile library is over the size goal (BENCHMARKS.md, mobile library size)" >&2
  exit 1
fi
