"""exim-shipper: parse, enrich and ship Exim MTA logs into OpenSearch."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # pyproject.toml holds the version; read from the installed metadata when first asked, since the
    # look-up costs ~50 ms at start and `trace` over files never asks.
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415

        value = version("exim-shipper")
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
