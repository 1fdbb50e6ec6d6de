"""In-memory stand-ins for the program's external systems, for unit tests."""
