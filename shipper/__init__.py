"""exim-shipper: parse, enrich and ship Exim MTA logs into OpenSearch."""

from importlib.metadata import version

# pyproject.toml holds the version; the installed package's metadata carries it here.
__version__ = version("exim-shipper")
