"""The exception tree: errors meant for the user, shown as one line without a traceback.

ShipperError
├── InputError       a log file is missing, unreadable or not decompressible
├── ConfigError      a setting is invalid
└── StateError       the state directory cannot be used (unwritable, full, corrupt, held by another shipper)
"""

from __future__ import annotations


class ShipperError(Exception):
    """Base of every error reported to the user as one clear line."""


class InputError(ShipperError):
    """A log file cannot be opened or read."""


class ConfigError(ShipperError):
    """A setting has an invalid value."""


class StateError(ShipperError):
    """Checkpoints or dead letters cannot be read, written or kept private; shipping stops rather than
    lose track of what was shipped."""


class OpenSearchUnavailable(ShipperError):
    """OpenSearch could not be reached or kept failing after the retries allowed."""


class OpenSearchRejected(ShipperError):
    """OpenSearch refused a request for good (authentication, a malformed template, …)."""
