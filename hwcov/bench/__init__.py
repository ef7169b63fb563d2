"""bench: measurement method, variants, benchmark cells, profiling (through the Backend interface)."""
