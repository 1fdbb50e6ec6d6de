"""I/O edge: finding, opening and reading log files."""
