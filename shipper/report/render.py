"""The report for people (aligned tables) and for programs (JSON)."""

from __future__ import annotations

from typing import Any

from shipper.report.model import EVENTS, SUMMARIES, HistogramRow, Report, TopRow


def report_json(r: Report) -> dict[str, Any]:
    """The report as plain JSON; each section names its source (events or message summaries)."""

    def rows(table: list[TopRow], unit: str) -> list[dict[str, Any]]:
        return [{"key": row.key, unit: row.count, "volume_bytes": row.volume} for row in table]

    out: dict[str, Any] = {
        "window": {
            "since": r.since,
            "until": r.until,
            "servers": r.servers_filter or "all",
            "data": {"first": r.first, "last": r.last, "documents": r.documents},
        },
    }
    if r.elsewhere is not None:
        out["elsewhere"] = [{"server": s.name, "first": s.first, "last": s.last} for s in r.elsewhere]
    out |= {
        "received": {"source": SUMMARIES, **_bytes_key(r.received)},
        "delivered": {
            "source": f"{EVENTS} (=> and -> lines); volume: {SUMMARIES}",
            **_bytes_key(r.delivered),
        },
        "deliveries": {"source": EVENTS, **_bytes_key(r.deliveries)},
        "deferrals": {"source": EVENTS, **r.deferrals},
        "failures": {"source": EVENTS, **r.failures},
        "rejects": {"source": EVENTS, "field": "exim.eximstats.reject", **r.rejects},
        "temp_rejects": {"source": EVENTS, "field": "exim.eximstats.reject", **r.temp_rejects},
        "denied": {"source": EVENTS, "field": "event.type", **r.denied},
        "temp_denied": {"source": EVENTS, "field": "event.type", **r.temp_denied},
        "errors": {"source": EVENTS, "lines": r.errors},
        "spam": {"source": EVENTS, **r.spam},
        "states": {"source": SUMMARIES, **r.states},
        "servers": [
            {
                "name": s.name,
                "received_messages": s.received,
                "received_volume_bytes": s.received_volume,
                "deliveries": s.deliveries,
                "deferrals": s.deferrals,
                "failures": s.failures,
                "rejects": s.rejects,
                "temp_rejects": s.temp_rejects,
                "errors": s.errors,
            }
            for s in r.servers
        ],
        "top": {
            _slug(t.title): {
                "source": t.source,
                "field": t.field,
                "rows": [
                    {k: v for k, v in row.items() if k != "volume_bytes" or t.has_volume}
                    for row in rows(t.rows, t.unit)
                ],
            }
            for t in r.tops
        },
        "transports": {"source": EVENTS, "field": "exim.transport", "rows": rows(r.transports, "deliveries")},
        "local_destinations": {
            "source": EVENTS,
            "field": "exim.eximstats.destination",
            "rows": [
                {"key": d.key, "messages": d.messages, "addresses": d.addresses} for d in r.local_destinations
            ],
        },
        "relayed": {
            "source": SUMMARIES,
            "addresses": r.relayed_total,
            "rows": [
                {"from": x.source, "sender": x.sender, "to": x.destination, "addresses": x.addresses}
                for x in r.relayed
            ],
        },
        "failure_list": {
            "source": EVENTS,
            "field": "exim.error.message",
            "rows": [{"error": f.text, "lines": f.count, "addresses": f.addresses} for f in r.failure_list],
        },
        "error_classes": {
            "source": EVENTS,
            "field": "exim.error.class",
            "rows": [
                {
                    "class": c.name,
                    "events": c.events,
                    "temporary": c.temporary,
                    "permanent": c.events - c.temporary,
                    "messages": c.messages,
                }
                for c in r.error_classes
            ],
        },
        "delays_seconds": {
            d.field.removeprefix("exim."): {
                "source": d.source,
                "field": d.field,
                "count": d.count,
                **d.percentiles,
                "avg": d.average,
                "max": d.max,
            }
            for d in r.delays
        },
        "histogram": {
            "interval": r.histogram_interval,
            "source": {"received": SUMMARIES, "deliveries": EVENTS},
            "rows": [
                {"time": h.time, "received": h.received, "deliveries": h.deliveries} for h in r.histogram
            ],
        },
    }
    return out


def _bytes_key(figures: dict[str, int]) -> dict[str, int]:
    return {(f"{k}_bytes" if k.startswith("volume") else k): v for k, v in figures.items()}


def _slug(title: str) -> str:
    words = title.split(" (", maxsplit=1)[0].lower().split()
    return "_".join(words[2:])  # "Top 10 senders by volume" -> "senders_by_volume"


def volume(n: int) -> str:
    """eximstats-style sizes: B, KB, MB, GB (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)}{unit}" if unit == "B" or size >= 100 else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"  # pragma: no cover - the loop always returns


def seconds(value: float | None) -> str:
    """A duration for people: `0.65s`, `42s`, `3m12s`, `2h5m`, `1d3h`; `-` when unknown."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}s"
    if value < 60:
        return f"{value:.0f}s"
    s = int(value)
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    shown = [(v, u) for v, u in parts if v]
    return "".join(f"{v}{u}" for v, u in shown[:2])


def _pct(part: int, whole: int) -> str:
    return f"{part} ({100 * part / whole:.1f}%)" if whole else str(part)


def _table(header: list[str], rows: list[list[str]], left: int = 1, *, last_left: bool = False) -> list[str]:
    """Aligned columns: the first `left` (and with `last_left` the last) flush left, the others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        flush = [i < left or (last_left and i == len(cells) - 1) for i in range(len(cells))]
        out = [c.ljust(w) if f else c.rjust(w) for c, w, f in zip(cells, widths, flush, strict=True)]
        return ("  " + "  ".join(out)).rstrip()

    return [line(header), *(line(r) for r in rows)]


# How much of an ISO time a histogram label shows, by the unit of the bucket size (`30s`, `3h`, `1d`, `1M`).
_LABEL_LENGTH = {"s": 19, "m": 16, "h": 16, "d": 10, "w": 10, "M": 7, "y": 4}


def label(iso_time: str, interval: str) -> str:
    """A histogram bucket's start, to the bucket size: `2025-03-28 03:00` for 3h, `2025-03-28` for 1d."""
    return iso_time[: _LABEL_LENGTH.get(interval[-1:], 16)].replace("T", " ")


def _when(value: str | None) -> str:
    return value.replace("T", " ").removesuffix(".000Z").removesuffix("Z") + " UTC" if value else "-"


def _nothing(r: Report, out: list[str]) -> str:
    out.append("Nothing in this window.")
    if not r.elsewhere:
        scope = "these servers" if r.servers_filter else "any server"
        out.append(f"The index holds no data for {scope}.")
    else:
        out.append("The index holds data (--since/--until to choose a window):")
        out += _table(
            ["Server", "First", "Last"], [[s.name, _when(s.first), _when(s.last)] for s in r.elsewhere]
        )
    return "\n".join(out) + "\n"


def render_report(r: Report) -> str:
    """The readable report: grand totals, per server, top N tables, error classes, delays, histogram."""
    since = r.since or "the beginning"
    until = r.until or "the end"
    scope = ", ".join(r.servers_filter) if r.servers_filter else f"all ({len(r.servers)})"
    out = [f"Exim fleet report  {since} .. {until}  servers: {scope}"]
    if r.documents == 0:
        return _nothing(r, out)
    out += [f"Data from {_when(r.first)} to {_when(r.last)}", ""]
    rc, dv = r.received, r.delivered
    out.append("Grand total (as eximstats counts: received from summaries, the rest from main-log events)")
    out += _table(
        ["", "Volume", "Messages", "Addresses", "Hosts", "Delayed", "Failed"],
        [
            [
                "Received",
                volume(rc["volume"]),
                str(rc["messages"]),
                str(rc["addresses"]),
                str(rc["hosts"]),
                _pct(rc["delayed_messages"], rc["messages"]),
                _pct(rc["failed_messages"], rc["messages"]),
            ],
            [
                "Delivered",
                volume(dv["volume"]),
                str(dv["messages"]),
                str(dv["addresses"]),
                str(dv["hosts"]),
                "",
                "",
            ],
            ["Rejects", "", str(r.rejects["lines"]), "", str(r.rejects["hosts"]), "", ""],
            ["Temp Rejects", "", str(r.temp_rejects["lines"]), "", str(r.temp_rejects["hosts"]), "", ""],
        ],
    )
    out.append("")
    dl = r.deliveries
    spam = "  ".join(f"{k} {v}" for k, v in sorted(r.spam.items())) or "0"
    out += _table(
        ["Lines (events)", "Count", "Messages", "Addresses", "Hosts"],
        [
            [
                "Deliveries (=> -> >>)",
                str(dl["lines"]),
                str(dl["messages"]),
                str(dl["addresses"]),
                str(dl["hosts"]),
            ],
            ["Deferrals (==)", str(r.deferrals["lines"]), str(r.deferrals["messages"]), "", ""],
            ["Failures (**)", str(r.failures["lines"]), str(r.failures["messages"]), "", ""],
            ["Denied (ACL)", str(r.denied["lines"]), "", "", str(r.denied["hosts"])],
            ["Temp denied (ACL)", str(r.temp_denied["lines"]), "", "", str(r.temp_denied["hosts"])],
            ["Errors (exim.error)", str(r.errors), "", "", ""],
        ],
    )
    states = "  ".join(f"{k} {v}" for k, v in sorted(r.states.items(), key=lambda kv: (-kv[1], kv[0])))
    out += [f"  Spam verdicts (events): {spam}", f"  Message states (summaries): {states or '0'}", ""]

    out.append("Per server (received: summaries; the rest: events)")
    out += _table(
        [
            "Server",
            "Received",
            "Volume",
            "Deliveries",
            "Deferrals",
            "Failures",
            "Rejects",
            "Temp rej",
            "Errors",
        ],
        [
            [
                s.name,
                str(s.received),
                volume(s.received_volume),
                str(s.deliveries),
                str(s.deferrals),
                str(s.failures),
                str(s.rejects),
                str(s.temp_rejects),
                str(s.errors),
            ]
            for s in r.servers
        ]
        or [["(none)", "0", "0B", "0", "0", "0", "0", "0", "0"]],
    )
    out += ["", f"Deliveries by transport ({EVENTS}: exim.transport; volume: S= where logged)"]
    out += _table(
        ["Deliveries", "Volume", "Transport"],
        [[str(t.count), volume(t.volume), t.key] for t in r.transports] or [["0", "0B", "(none)"]],
        left=0,
        last_left=True,
    )
    for t in r.tops:
        out += ["", f"{t.title} ({t.source}: {t.field})"]
        header = [t.unit.capitalize(), *(["Volume"] if t.has_volume else []), "Value"]
        rows = [[str(row.count), *([volume(row.volume)] if t.has_volume else []), row.key] for row in t.rows]
        out += _table(
            header, rows or [["0", *(["0B"] if t.has_volume else []), "(none)"]], left=0, last_left=True
        )
    out += ["", f"Local destinations ({EVENTS}: exim.eximstats.destination)"]
    out += _table(
        ["Messages", "Addresses", "Destination"],
        [[str(d.messages), str(d.addresses), d.key] for d in r.local_destinations] or [["0", "0", "(none)"]],
        left=0,
        last_left=True,
    )
    out += [
        "",
        f"Relayed messages ({SUMMARIES}: from a remote host to another, as addressed): {r.relayed_total}",
    ]
    out += _table(
        ["Addresses", "From (sender) => to"],
        [[str(x.addresses), f"{x.source} ({x.sender}) => {x.destination}"] for x in r.relayed]
        or [["0", "(none)"]],
        left=0,
        last_left=True,
    )
    out += ["", f"Failures ({EVENTS}, ** lines: exim.error.message)"]
    out += _table(
        ["Lines", "Addresses: error"],
        [[str(f.count), f"{', '.join(f.addresses)}: {f.text}"] for f in r.failure_list] or [["0", "(none)"]],
        left=0,
        last_left=True,
    )
    out += ["", f"Error classes ({EVENTS}: exim.error.class)"]
    out += _table(
        ["Events", "Temporary", "Permanent", "Messages", "Class"],
        [
            [str(c.events), str(c.temporary), str(c.events - c.temporary), str(c.messages), c.name]
            for c in r.error_classes
        ]
        or [["0", "0", "0", "0", "(none)"]],
        left=0,
        last_left=True,
    )
    out += ["", "Delays"]
    out += _table(
        ["", "Source", "Count", "p50", "p90", "p95", "p99", "Avg", "Max"],
        [
            [
                d.title,
                f"{d.source}: {d.field}",
                str(d.count),
                *(seconds(d.percentiles[k]) for k in ("p50", "p90", "p95", "p99")),
                seconds(d.average),
                seconds(d.max),
            ]
            for d in r.delays
        ],
        left=2,
    )
    if r.histogram:
        out += ["", *_histogram(r.histogram, r.histogram_interval)]
    return "\n".join(out) + "\n"


def _histogram(histogram: list[HistogramRow], interval: str) -> list[str]:
    out = [f"Received (summaries) and deliveries (events) per {interval}"]
    peak = max(h.received for h in histogram) or 1
    lines: list[list[str]] = []
    quiet: list[HistogramRow] = []
    for h in [*histogram, None]:
        if h is not None and h.received == h.deliveries == 0:
            quiet.append(h)
            continue
        # A long quiet stretch is one line, so a gap between two busy days does not fill the screen.
        if len(quiet) > 2:
            lines.append(
                [f"{label(quiet[0].time, interval)} ..", "0", "0", f"({len(quiet)} quiet intervals)"]
            )
        else:
            lines += [[label(q.time, interval), "0", "0", ""] for q in quiet]
        quiet = []
        if h is not None:
            bar = "#" * round(30 * h.received / peak)
            lines.append([label(h.time, interval), str(h.received), str(h.deliveries), bar])
    return out + _table(["Time (UTC)", "Received", "Deliveries", ""], lines, last_left=True)
