"""cli: the `hwcov` command: parser from declared verbs, validation, verbs by topic, output. Nothing imports it."""
