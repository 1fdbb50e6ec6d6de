"""The log of tests/fixtures/eximstats/: bench/generate_mainlog.py output made readable by eximstats 4.96.

eximstats 4.96 (Debian 12's) reads a message id as 16 characters, so each 23-character id of the
generated log is mapped, everywhere it appears, to a 16-character one; the hand-written lines of
extra.log (local deliveries, an alias with a failing target, every kind of reject) follow.
Usage: eximstats_log.py GENERATED EXTRA > LOG
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LONG_ID = re.compile(r"\b([0-9A-Za-z]{6})-[0-9A-Za-z]{11}-[0-9A-Za-z]{4}\b")


def b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


def shorten(text: str) -> str:
    """Each distinct long id becomes `<its time>-z<counter>-zz` (no generated short id starts with z)."""
    seen: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        long_id = m.group(0)
        if long_id not in seen:
            seen[long_id] = f"{m.group(1)}-z{b62(len(seen), 5)}-zz"
        return seen[long_id]

    return LONG_ID.sub(repl, text)


def main(argv: list[str]) -> int:
    generated, extra = (Path(a) for a in argv)
    text = generated.read_text(encoding="utf-8", errors="surrogateescape")
    sys.stdout.write(shorten(text) + extra.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
