"""exim-shipper: parse, enrich and ship Exim MTA logs into OpenSearch."""

__version__ = "0.1.0"
