"""Retry policy: which failures are transient, and how long to wait (bounded in backfill)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from opensearchpy import exceptions as os_exc
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_never, wait_random_exponential

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


# Bulk item errors that a cluster block gives (index.blocks.write, the flood-stage disk watermark's
# read_only_allow_delete, a cluster-wide read-only): an operator or the disk clears them, so they are waited
# out like throttling, never dead-lettered.
BLOCK_TYPES = frozenset({"cluster_block_exception", "index_create_block_exception"})
_OPERATION_BYTES = re.compile(r"coordinating_operation_bytes=(\d+), max_coordinating_and_primary_bytes=(\d+)")


def too_large(exc: BaseException) -> bool:
    """A request the cluster refuses for its own size: HTTP 413 (http.max_content_length), or indexing
    pressure's 429 when the one request is larger than the whole limit. Retrying it as it is can never
    succeed; it has to be split."""
    if not isinstance(exc, os_exc.TransportError):
        return False
    if exc.status_code == 413:
        return True
    if exc.status_code != 429:
        return False
    found = _OPERATION_BYTES.search(str(exc.info) if exc.info is not None else str(exc))
    return found is not None and int(found.group(1)) > int(found.group(2))


def transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx are worth another try; the rest is final."""
    if too_large(exc):
        return False
    if isinstance(exc, os_exc.SSLError) and "certificate" in str(exc).lower():
        return False  # an unverifiable certificate stays so: waiting would hide a configuration error
    if isinstance(exc, os_exc.ConnectionError | os_exc.ConnectionTimeout):
        return True
    if isinstance(exc, os_exc.TransportError):
        status = exc.status_code
        return isinstance(status, int) and (status in RETRYABLE_STATUS or status >= 500)
    return False


class Interrupted(Exception):
    """The process was asked to stop while waiting to retry."""


# Set by the sidecar: a stop request ends a retry wait at once instead of after the backoff.
STOP: threading.Event | None = None
# Backoff bounds (seconds), from settings: the first wait and the cap of the exponential growth.
INITIAL_WAIT = 0.5
MAX_WAIT = 30.0


class Watcher(Protocol):
    """Told of every transient failure and of each success after one (the sidecar's Status)."""

    def failed(self, exc: BaseException) -> None: ...

    def succeeded(self) -> None: ...

    def throttled(self, n: int) -> None: ...


# Set by the sidecar, so that an outage is logged when it begins, not when the retries give up.
WATCHER: Watcher | None = None


def configure(initial_wait: float, max_wait: float) -> None:
    global INITIAL_WAIT, MAX_WAIT
    INITIAL_WAIT, MAX_WAIT = initial_wait, max_wait


def backoff(attempt: int) -> float:
    """The wait before retry number `attempt` (1-based) of throttled items."""
    return float(min(MAX_WAIT, INITIAL_WAIT * 2 ** (attempt - 1)))


def sleep(seconds: float) -> None:
    """Wait `seconds`, or raise Interrupted as soon as a stop is requested."""
    if STOP is None:
        time.sleep(seconds)
    elif STOP.wait(seconds):
        raise Interrupted


def call(fn: Callable[[], T], max_attempts: int | None) -> T:
    """Run `fn`, retrying transient failures with exponential backoff and jitter.

    `max_attempts=None` retries for ever (the sidecar waits out an outage); backfill passes a bound.
    """
    stop = stop_never if max_attempts is None else stop_after_attempt(max_attempts)
    watcher = WATCHER

    def attempt() -> T:
        try:
            result = fn()
        except Exception as exc:
            if watcher is not None and transient(exc):
                watcher.failed(exc)
            raise
        if watcher is not None:
            watcher.succeeded()
        return result

    retrying = Retrying(
        retry=retry_if_exception(transient),
        wait=wait_random_exponential(multiplier=INITIAL_WAIT, max=MAX_WAIT),
        stop=stop,
        reraise=True,
        sleep=sleep,
    )
    return retrying(attempt)
