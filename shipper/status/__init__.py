"""The sidecar's live facts (files, counts, backlog, outages), the log lines they make, and status.json.

One `Status` is fed by the tail loop (files opened, rotated, read), by the sender (acknowledgements and
outcomes) and by the retry policy (failures, recovery). The log lines, the Prometheus metrics and
`exim-shipper health` all read it: the monitor thread writes it to `<state_dir>/status.json` every tick.
"""

from __future__ import annotations

from shipper.status.facts import FORMAT, LATENCY_BUCKETS, OUTCOMES, FileFacts, Status, last_line_end
from shipper.status.monitor import STATUS_FILE, Monitor, describe_lag, load

__all__ = [
    "FORMAT",
    "LATENCY_BUCKETS",
    "OUTCOMES",
    "STATUS_FILE",
    "FileFacts",
    "Monitor",
    "Status",
    "describe_lag",
    "last_line_end",
    "load",
]
