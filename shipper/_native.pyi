"""Types of the native core's module (native/binding, built by `make native`): see native/README.md."""

RECORD_FORMAT: str
RECORD_SIZE: int
ACTIONS: list[str]
FLAG_TERMINATED: int
FLAG_SECOND_PASS: int
FLAG_PANICKED: int
FLAG_HAS_TIMESTAMP: int
FLAG_INVALID_TIMESTAMP: int
FLAG_TIMESTAMP_INHERITED: int
FLAG_BAD_UTF8: int
FLAG_HAS_PID: int

class Reader:
    """One file's entries: chunks in order, `(bulk, records)` out."""

    def __init__(
        self,
        *,
        server: str,
        zone: str,
        dataset: str,
        path: str,
        index_prefix: str,
        start: int = 0,
        resume: int = 0,
        panic_on: bool = False,
        form: str = "exim",
        anchor: tuple[int, int, int] = (1970, 1, 1),
        programs: list[str] = ...,
        host_from_syslog: bool = True,
        correlate: bool = False,
        output: str = "bulk",
    ) -> None: ...
    def feed(self, chunk: bytes, offset: int) -> tuple[bytes, bytes]: ...
    def release(self) -> tuple[bytes, bytes]: ...
    def finish(self) -> tuple[bytes, bytes]: ...
    def partials(self) -> Partials:
        """With `correlate=True`: the message facts of the entries returned and not folded in or taken
        yet (every entry with a message id and a time has them), which the reader then no longer holds."""
    def correlate(self, correlator: Correlator, before: int) -> None: ...
    def summarize(self, summaries: Summaries, before: int) -> None: ...
    @property
    def consumed(self) -> int: ...
    @property
    def fed(self) -> int: ...
    @property
    def held(self) -> bool: ...
    @property
    def skipped(self) -> int: ...
    @property
    def unreadable(self) -> int: ...

class Correlator:
    """The loop's correlator of one file: partials in (`Reader.correlate`, `Partials.fold`), the
    summaries' `create` items out as `(bulk, keys, count)`."""

    def __init__(self, *, max_open: int, index_prefix: str) -> None: ...
    def older_than(self, at: int) -> tuple[bytes, bytes, int]: ...
    def drain(self) -> tuple[bytes, bytes, int]: ...
    def oldest(self) -> int | None: ...
    def __len__(self) -> int: ...

class Summaries:
    """`parse --messages`' summaries in first-seen order: documents out, one JSON line each."""

    def __init__(self, *, max_open: int) -> None: ...
    def take(self) -> bytes: ...
    def finish(self, budget: int = ...) -> bytes: ...
    @property
    def written(self) -> int: ...

class Partials:
    """Some entries' message facts (`Reader.partials`), by the offset where each entry begins."""

    def __len__(self) -> int: ...
    def offsets(self) -> list[int]: ...
    def fold(self, correlator: Correlator, offset: int, at: int) -> bool:
        """The entry's facts into `correlator` as its entry at `at`; False when it has none."""
    def state(self, offset: int) -> bytes | None:
        """The entry's partials in `to_state`'s form (a JSON array); None when it has none."""
