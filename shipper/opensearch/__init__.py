"""I/O edge: everything that talks to OpenSearch (or Elasticsearch)."""
