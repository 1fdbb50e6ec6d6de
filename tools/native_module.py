"""Puts the native core's module from the wheel `make native` built beside the Python package (git-ignored),
so the editable install imports `shipper._native`; nothing depends on it until the port is complete."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

WHEELS = Path("native/target/wheels")
TARGET = Path("shipper/_native.abi3.so")


def main() -> int:
    wheels = sorted(WHEELS.glob("exim_shipper_native-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        print(f"native_module: no wheel in {WHEELS} (run make native)", file=sys.stderr)
        return 1
    with zipfile.ZipFile(wheels[-1]) as whl:
        name = next(n for n in whl.namelist() if n.endswith(".abi3.so"))
        tmp = TARGET.with_suffix(".tmp")
        tmp.write_bytes(whl.read(name))
    tmp.replace(TARGET)  # a running interpreter keeps its mapped copy
    print(f"{TARGET} from {wheels[-1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
