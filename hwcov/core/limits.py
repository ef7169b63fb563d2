"""The default limits of one case, in one place: the registry, the runner, custom platforms and the CLI read them."""

DEFAULT_TIMEOUT_S = 180.0  # a case's wall clock before it is a `timeout` (exported/browser hardware: the registry's)
DEFAULT_MEMORY_MB = 8192  # a worker's address-space cap before it is an `oom` (0 = none)
