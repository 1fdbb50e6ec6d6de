"""The report's typed result: every figure the table and the JSON show."""

from __future__ import annotations

from dataclasses import dataclass, field

SUMMARIES = "message summaries"
EVENTS = "events"
# S= on delivery lines needs `log_selector = +delivery_size`: volumes summed from events may be partial.
DELIVERY_LINES = f"{EVENTS}, delivery lines"
ARRIVAL_LINES = f"{EVENTS}, arrival lines"
REJECT_LINES = f"{EVENTS}, eximstats rejects"


@dataclass(frozen=True, slots=True)
class TopRow:
    """One line of a top-N table: a value, how many messages/deliveries, their summed size."""

    key: str
    count: int
    volume: int


@dataclass(frozen=True, slots=True)
class TopTable:
    title: str
    source: str
    field: str
    unit: str
    rows: list[TopRow]
    has_volume: bool = True


@dataclass(frozen=True, slots=True)
class ServerRow:
    name: str
    received: int
    received_volume: int
    deliveries: int
    deferrals: int
    failures: int
    rejects: int
    temp_rejects: int
    errors: int


@dataclass(frozen=True, slots=True)
class ServerSpan:
    """Where one server's data is: its first and last @timestamp."""

    name: str
    first: str | None
    last: str | None


@dataclass(frozen=True, slots=True)
class ErrorClassRow:
    name: str
    events: int
    temporary: int
    messages: int


@dataclass(frozen=True, slots=True)
class LocalDestination:
    """eximstats' local destination: deliveries (`=>`, its "messages") and addresses (`=>` and `->`)."""

    key: str
    messages: int
    addresses: int


@dataclass(frozen=True, slots=True)
class Relay:
    """Addresses of messages from a remote host delivered, as addressed, to another remote host."""

    source: str
    sender: str
    destination: str
    addresses: int


@dataclass(frozen=True, slots=True)
class FailureRow:
    """One error text of `**` lines: how many, and up to three of the addresses it was for."""

    text: str
    count: int
    addresses: list[str]


@dataclass(frozen=True, slots=True)
class Delay:
    """Percentiles of one duration field, in seconds (None when no document has it)."""

    title: str
    source: str
    field: str
    count: int
    percentiles: dict[str, float | None]
    average: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class HistogramRow:
    time: str
    received: int
    deliveries: int


@dataclass(slots=True)
class Report:
    """Everything the table and the JSON show, in one typed value."""

    since: str | None
    until: str | None
    servers_filter: list[str]
    documents: int
    first: str | None
    last: str | None
    received: dict[str, int]
    delivered: dict[str, int]
    deliveries: dict[str, int]
    deferrals: dict[str, int]
    failures: dict[str, int]
    rejects: dict[str, int]
    temp_rejects: dict[str, int]
    denied: dict[str, int]
    temp_denied: dict[str, int]
    errors: int
    spam: dict[str, int]
    states: dict[str, int]
    servers: list[ServerRow]
    tops: list[TopTable]
    transports: list[TopRow]
    error_classes: list[ErrorClassRow]
    delays: list[Delay]
    histogram_interval: str
    histogram: list[HistogramRow] = field(default_factory=list)
    local_destinations: list[LocalDestination] = field(default_factory=list)
    relayed_total: int = 0
    relayed: list[Relay] = field(default_factory=list)
    failure_list: list[FailureRow] = field(default_factory=list)
    # When the window holds nothing: where the data is (None: the index holds nothing at all).
    elsewhere: list[ServerSpan] | None = None
