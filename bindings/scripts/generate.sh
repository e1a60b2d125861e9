#!/usr/bin/env bash
# Builds the xuncha-ffi cdylib (debug, unstripped: library mode reads uniffi's metadata symbols
# from it) and generates the Kotlin, Swift and Python bindings with the workspace's own
# uniffi-bindgen into build/bindings/{kotlin,swift,python}. Prints the library path last.
#
#   bash bindings/scripts/generate.sh            # debug build
#   PROFILE=mobile bash bindings/scripts/generate.sh   # NOT for generation: mobile is stripped
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
out=$root/build/bindings

cargo build -p xuncha-ffi --lib
cargo build -p xuncha-ffi --features cli --bin uniffi-bindgen

case "$(uname -s)" in
  Darwin) lib=$target_dir/debug/libxuncha_ffi.dylib ;;
  *) lib=$target_dir/debug/libxuncha_ffi.so ;;
esac
[ -f "$lib" ] || { echo "library not built: $lib" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"/{kotlin,swift,python}
bindgen=$target_dir/debug/uniffi-bindgen
"$bindgen" generate --library "$lib" --language kotlin --no-format --out-dir "$out/kotlin"
"$bindgen" generate --library "$lib" --language swift --no-format --out-dir "$out/swift"
"$bindgen" generate --library "$lib" --language python --no-format --out-dir "$out/python"
# The Python module loads the library from its own folder; the JVM tests use jna.library.path.
cp "$lib" "$out/python/"
echo "generated into $out:"
(cd "$out" && find . -type f | sort)
echo "library: $lib"
