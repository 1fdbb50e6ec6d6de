"""The tables the native core (native/exim-log) embeds at build time, as data: `data/*.json`, read here for
the docs, the tests and the checks that the built core is the one these files describe."""
