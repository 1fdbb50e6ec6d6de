"""Types of the native core's module (native/binding, built by `make native`): see native/README.md."""

RECORD_FORMAT: str
RECORD_SIZE: int
ACTIONS: list[str]
MISSING: str
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
    ) -> None: ...
    def feed(self, chunk: bytes, offset: int) -> tuple[bytes, bytes]: ...
    def release(self) -> tuple[bytes, bytes]: ...
    def finish(self) -> tuple[bytes, bytes]: ...
    def facts(self) -> bytes: ...
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
