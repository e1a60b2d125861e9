#!/usr/bin/env bash
# macOS only (Xcode 16+, rustup). Builds xuncha-ffi for iOS devices and simulators with the
# `mobile` profile, generates the Swift bindings from a host build with the workspace's own
# uniffi-bindgen, and packs XunchaCore.xcframework (static library + header + module map).
#
#   bash mobile-samples/ios/scripts/build-xcframework.sh
# Output: mobile-samples/ios/build/XunchaCore.xcframework and mobile-samples/ios/build/swift/XunchaCore.swift
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "needs macOS with Xcode" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/../.." && pwd)
out=$here/build
target_dir=${CARGO_TARGET_DIR:-$root/target}
cd "$root"

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  cargo build -p xuncha-ffi --lib --profile mobile --target "$t"
done

# Bindings from an unstripped host build (library mode reads uniffi's metadata symbols).
bash bindings/scripts/generate.sh
rm -rf "$out"
mkdir -p "$out/headers" "$out/swift" "$out/sim"
cp build/bindings/swift/XunchaCore.swift "$out/swift/"
cp build/bindings/swift/XunchaCoreFFI.h "$out/headers/"
# Xcode looks for module.modulemap inside the xcframework's Headers folder.
cp build/bindings/swift/XunchaCoreFFI.modulemap "$out/headers/module.modulemap"

# One fat simulator library (Apple silicon + Intel simulators).
lipo -create \
  "$target_dir/aarch64-apple-ios-sim/mobile/libxuncha_ffi.a" \
  "$target_dir/x86_64-apple-ios/mobile/libxuncha_ffi.a" \
  -output "$out/sim/libxuncha_ffi.a"

xcodebuild -create-xcframework \
  -library "$target_dir/aarch64-apple-ios/mobile/libxuncha_ffi.a" -headers "$out/headers" \
  -library "$out/sim/libxuncha_ffi.a" -headers "$out/headers" \
  -output "$out/XunchaCore.xcframework"
echo "built $out/XunchaCore.xcframework; add it and $out/swift/XunchaCore.swift to the app target"
