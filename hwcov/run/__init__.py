"""run: isolated runner, sweep, journal, pattern classification, result checks."""
