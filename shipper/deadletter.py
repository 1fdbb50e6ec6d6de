"""Documents OpenSearch rejected for good, kept as NDJSON with the reason, so nothing is lost silently."""

from __future__ import annotations

import time
from pathlib import Path

import orjson


class DeadLetters:
    """Appends `{"time", "reason", "index", "id", "document"}` lines to `<state_dir>/deadletter.ndjson`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "deadletter.ndjson"
        self.count = 0

    def add(self, reason: str, action: bytes, body: bytes) -> None:
        meta = next(iter(orjson.loads(action).values()))
        line = orjson.dumps(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "reason": reason,
                "index": meta.get("_index"),
                "id": meta.get("_id"),
                "document": orjson.loads(body),
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            fh.write(line + b"\n")
        self.count += 1
