"""cases: one architecture's case, the shared test mixin, test generation, the pytest plugin."""
