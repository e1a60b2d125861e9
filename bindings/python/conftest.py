"""Makes the generated module importable: bindings/scripts/generate.sh writes it, with the
native library beside it, into build/bindings/python (override with XUNCHA_PY_BINDINGS)."""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATED = Path(os.environ.get("XUNCHA_PY_BINDINGS", REPO_ROOT / "build" / "bindings" / "python"))
if not (GENERATED / "xuncha_ffi.py").exists():
    raise RuntimeError(f"generated bindings missing in {GENERATED}: run bindings/scripts/generate.sh")
sys.path.insert(0, str(GENERATED))
