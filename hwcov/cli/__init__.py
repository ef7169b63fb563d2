"""cli: the `hwcov` command: parser, verbs, output. Nothing imports it.."""
