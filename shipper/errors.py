"""The exception tree: errors meant for the user, shown as one line without a traceback.

ShipperError
├── InputError              a log file is missing, unreadable or not decompressible
├── ConfigError             a setting, the config file or a variable is invalid
├── OpenSearchUnavailable   the cluster could not be reached (after the retries allowed)
├── OpenSearchRejected      the cluster refused a request for good
├── NotSetUp                the cluster lacks the index templates `setup` installs
└── StateError              the state directory is unusable (unwritable, full, corrupt, held by another)

Beside these, next to what raises them: health.Unhealthy, checkpoints.RegistryUnreadable,
report.NothingToReport and trace.NoEventIndex.
"""

from __future__ import annotations


class ShipperError(Exception):
    """Base of every error reported to the user as one clear line."""


class InputError(ShipperError):
    """A log file cannot be opened or read."""


class ConfigError(ShipperError):
    """A setting has an invalid value, or the config file is missing, malformed or names no setting."""


class StateError(ShipperError):
    """Checkpoints or dead letters cannot be read, written or kept private; shipping stops rather than
    lose track of what was shipped."""


class OpenSearchUnavailable(ShipperError):
    """OpenSearch could not be reached or kept failing after the retries allowed."""


class OpenSearchRejected(ShipperError):
    """OpenSearch refused a request for good (authentication, a malformed template, …)."""


class NotSetUp(ShipperError):
    """The index templates are missing: shipping now would create wrongly mapped indices."""
