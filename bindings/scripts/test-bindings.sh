#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python bindings from the built library and runs their tests:
# JUnit 5 on the JVM (generated Kotlin + the Android sample's non-UI layer, against the real
# xuncha-server), pytest on the generated Python, and checks the Swift files and module map.
# Exits non-zero on any failure. Called by scripts/test-all.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
gen=$root/build/bindings

echo "-- generate bindings"
bash bindings/scripts/generate.sh

echo "-- build xuncha-server (the JVM and Python flows talk to it over loopback)"
cargo build -p xuncha-server --bin xuncha-server
server_bin=$target_dir/debug/xuncha-server
[ -x "$server_bin" ] || { echo "missing $server_bin" >&2; exit 1; }

echo "-- Swift: bindings, FFI header and module map generated"
swift_ok=1
for f in XunchaCore.swift XunchaCoreFFI.h XunchaCoreFFI.modulemap; do
  if [ -s "$gen/swift/$f" ]; then echo "   $f ($(wc -c < "$gen/swift/$f") bytes)"; else echo "   MISSING $f" >&2; swift_ok=0; fi
done
grep -q "public class XunchaClient" "$gen/swift/XunchaCore.swift" || { echo "   XunchaClient missing from Swift" >&2; swift_ok=0; }
[ "$swift_ok" = 1 ] || exit 1

echo "-- Kotlin on the JVM (Maven, JUnit 5)"
mkdir -p "$root/build"
mvn_log=$root/build/bindings-mvn.log
mvn_rc=0
mvn -B --no-transfer-progress -f bindings/kotlin/pom.xml test \
  -Dxuncha.lib.dir="$target_dir/debug" -Dxuncha.server.bin="$server_bin" >"$mvn_log" 2>&1 || mvn_rc=$?
grep -E "Tests run:|FAIL|ERROR|BUILD" "$mvn_log" || true
if [ "$mvn_rc" != 0 ]; then echo "Maven failed ($mvn_rc); full log: $mvn_log" >&2; tail -60 "$mvn_log" >&2; exit 1; fi

echo "-- Python (pytest on the generated module)"
python3 -c "import pytest" 2>/dev/null || python3 -m pip install -q pytest
XUNCHA_SERVER_BIN="$server_bin" XUNCHA_PY_BINDINGS="$gen/python" \
  python3 -m pytest -q bindings/python
echo "-- bindings: all passed"
