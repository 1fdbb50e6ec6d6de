"""The retry policy: how long to wait between tries and how many an operation gets, as one frozen value.

What is worth another try is decided where library errors are translated (shipper.opensearch.connection
raises OpenSearchUnavailable for those); this module only counts tries and waits.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from shipper.errors import Interrupted, OpenSearchUnavailable

if TYPE_CHECKING:
    from shipper.settings import Settings

T = TypeVar("T")
# Bulk items answered with these are throttled or briefly unavailable: sent again alone, never rejected.
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# Bulk item errors that a cluster block gives (index.blocks.write, the flood-stage disk watermark's
# read_only_allow_delete, a cluster-wide read-only): an operator or the disk clears them, so they are waited
# out like throttling, never dead-lettered.
BLOCK_TYPES = frozenset({"cluster_block_exception", "index_create_block_exception"})


class Watcher(Protocol):
    """Told of every transient failure and of each success after one (the sidecar's Status)."""

    def failed(self, exc: BaseException) -> None: ...

    def succeeded(self) -> None: ...

    def throttled(self, n: int) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an operation is retried: built once from Settings (`from_settings`), varied per command with
    `dataclasses.replace` (the sidecar: `max_attempts=None`, a stop event and its Status as watcher).

    One loop, one count. An operation (one bulk send with its throttled items sent again alone, one
    summary merge, one search) takes a `Tries` from `tries()`, and every try of it draws from that one
    count: a failed request and a request whose items came back throttled or blocked are one try each.
    Nothing below retries on its own: the opensearch-py client is built with `max_retries=0`.

    So with `max_attempts=N`, an operation makes at most N tries that fail before raising
    OpenSearchUnavailable, and waits at most sum(min(max_wait, initial_wait * 2**(k-1)) for k < N)
    between them: with the defaults (N=8, 0.5 s, 30 s) 61.5 s of waiting and 8 tries of at most
    `request_timeout` (30 s) each, about 5 minutes in the worst case. `max_attempts=None` tries for ever;
    a set `stop` ends any wait at once with Interrupted.
    """

    initial_wait: float = 0.5
    max_wait: float = 30.0
    max_attempts: int | None = 8
    stop: threading.Event | None = field(default=None, compare=False)
    watcher: Watcher | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The bounded policy of backfill and the one-shot commands."""
        return cls(settings.retry_initial_wait, settings.retry_max_wait, settings.backfill_max_retries)

    def wait(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: doubling from `initial_wait` up to `max_wait`, the upper half
        drawn at random so that a fleet of shippers does not come back in step."""
        cap = min(self.max_wait, self.initial_wait * 2.0 ** (attempt - 1))
        return cap / 2 + random.uniform(0, cap / 2)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or raise Interrupted as soon as a stop is requested."""
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise Interrupted

    def tries(self) -> Tries:
        """A fresh count for one operation."""
        return Tries(self)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` until it does not raise OpenSearchUnavailable, within one count of tries."""
        tries = self.tries()
        while True:
            try:
                result = fn()
            except OpenSearchUnavailable as exc:
                tries.failed(exc)
                continue
            tries.succeeded()
            return result


class Tries:
    """One operation's count of tries under a policy; callers report each try's result to it."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0

    def failed(self, exc: OpenSearchUnavailable) -> None:
        """A try failed as a whole: wait before the next one, or raise `exc` when none is left."""
        if self.policy.watcher is not None:
            self.policy.watcher.failed(exc)
        self._again(exc)

    def throttled(self, n: int, exc: OpenSearchUnavailable) -> None:
        """A try was answered but `n` of its items must go again: wait, or raise `exc` if no try is left."""
        if self.policy.watcher is not None:
            self.policy.watcher.throttled(n)
        self._again(exc)

    def succeeded(self) -> None:
        """A try was answered (the sidecar logs the end of an outage)."""
        if self.policy.watcher is not None:
            self.policy.watcher.succeeded()

    def _again(self, exc: OpenSearchUnavailable) -> None:
        self.failures += 1
        limit = self.policy.max_attempts
        if limit is not None and self.failures >= limit:
            raise exc
        self.policy.sleep(self.policy.wait(self.failures))
