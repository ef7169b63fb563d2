"""backends: the Backend interface (base), the hardware registry (registry), one module per backend family."""
