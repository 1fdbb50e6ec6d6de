"""Pure core: Exim log parsing and classification, with no file, clock or network access."""
