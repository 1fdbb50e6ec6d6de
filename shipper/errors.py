"""The exception tree: every error the program raises, each shown to the user as one line.

ShipperError                    one clear line, never a traceback (shipper.cli prints it)
├── InputError                  a log file is missing, unreadable or not decompressible
├── ConfigError                 a setting, the config file or a variable is invalid
├── StateError                  the state directory is unusable (unwritable, full, corrupt, held by another)
│   ├── RegistryUnreadable      the registry file cannot be read or makes no sense
│   └── DeadLetterUnwritable    a rejected document cannot be kept
├── ClusterError                a request to the cluster failed (translated at shipper.opensearch.cluster)
│   ├── OpenSearchUnavailable   not reached, timed out, throttled or 5xx: worth another try
│   └── OpenSearchRejected      refused for good
│       ├── AccessDenied        HTTP 403: authenticated, but the role lacks a permission (the reason names it)
│       ├── NotFound            HTTP 404
│       └── RequestTooLarge     HTTP 413, or indexing pressure refusing a request larger than its whole limit
├── NativeMissing               the native core (shipper._native) is not built, or built from other sources
├── NotSetUp                    the cluster lacks the index templates `setup` installs
├── NothingToReport             `report`: no index of the prefix on the cluster
├── NoEventIndex                `trace` across the fleet: no events index of the prefix
└── Unhealthy                   `health`: the sidecar's checkpoint has stopped moving

Interrupted                     not a ShipperError: a stop request ended a retry wait (the sidecar exits 0)

Raised elsewhere and translated before the user sees them: the settings' validators raise ValueError, as
pydantic requires (shipper.settings.load makes it a ConfigError); opensearch-py's exceptions become
ClusterErrors in shipper.opensearch.connection, the one module that sees them.
"""

from __future__ import annotations

from typing import Self


class ShipperError(Exception):
    """Base of every error reported to the user as one clear line."""


class InputError(ShipperError):
    """A log file cannot be opened or read."""


class NativeMissing(ShipperError):
    """The native core, which reads every log line, is not installed, does not load, or is stale (built
    from other sources than the package's Python)."""


class ConfigError(ShipperError):
    """A setting has an invalid value, or the config file is missing, malformed or names no setting."""


class StateError(ShipperError):
    """Checkpoints or dead letters cannot be read, written or kept private; shipping stops rather than
    lose track of what was shipped."""


class RegistryUnreadable(StateError):
    """The registry file cannot be read or is not a registry; shipping would re-read or skip blindly."""


class DeadLetterUnwritable(StateError):
    """A rejected document cannot be written to the dead-letter file (unwritable, full): its checkpoint
    must not move past it."""


class ClusterError(ShipperError):
    """A request to the cluster failed. `status` is the HTTP status when the cluster answered, `reason`
    the cluster's own reason on one line ("" when it gave none), `answer` its whole answer as text (for
    callers that look for a detail in it); neither repeats credentials."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str = "", answer: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.answer = answer

    def during(self, what: str) -> Self:
        """The same error, its line saying which command met it (`backfill: cannot connect to …`)."""
        return type(self)(f"{what}: {self}", status=self.status, reason=self.reason, answer=self.answer)


class OpenSearchUnavailable(ClusterError):
    """OpenSearch could not be reached, or answered 429/5xx: transient, so retried by the policy; raised to
    the user once the retries allowed are spent."""


class OpenSearchRejected(ClusterError):
    """OpenSearch refused a request for good (authentication, a malformed template, …)."""


class AccessDenied(OpenSearchRejected):
    """HTTP 403: the credentials are accepted but lack a permission."""


class NotFound(OpenSearchRejected):
    """HTTP 404: no such index, template or policy."""


class RequestTooLarge(OpenSearchRejected):
    """A request the cluster refuses for its own size; retrying it unchanged can never succeed, it has to be
    split."""


class NotSetUp(ShipperError):
    """The index templates are missing: shipping now would create wrongly mapped indices."""


class NothingToReport(ShipperError):
    """The cluster has no index for the prefix: nothing was shipped, or the prefix is wrong."""


class NoEventIndex(ShipperError):
    """`trace` across the fleet found no events index for the prefix."""


class Unhealthy(ShipperError):
    """`health`: lines wait and the checkpoint has stopped moving."""


class Interrupted(Exception):
    """The process was asked to stop while waiting to retry."""
