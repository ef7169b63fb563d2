"""The hardware registry: resolves a hardware key, built-in (hwcov/backends/hardware.py's table) or a custom
platform defined from JSON, to its entry and its Backend.

Adding a backend = one module under hwcov/backends/ + one entry in HARDWARE_TABLE.
"""
from __future__ import annotations

import importlib
import sys

from hwcov.backends import platforms
from hwcov.backends.hardware import (  # noqa: F401 - the table's names, read through the registry by most callers
    BY_KEY,
    HARDWARE,
    HARDWARE_TABLE,
    RESOURCES,
    RUNNABLE,
    Hardware,
    precisions,
)
from hwcov.backends.platform import PlatformBackend


def custom_platforms() -> dict:
    """Platforms defined from JSON (hwcov --define-hardware), by key."""
    return {p.platform_key: p for p in platforms.load_all(reserved=HARDWARE)}


def all_hardware() -> tuple[str, ...]:
    """Built-in hardware keys, then the custom platforms' keys."""
    return HARDWARE + tuple(custom_platforms())


def base_hardware(key: str) -> str:
    """The built-in hardware a key runs as: itself, or a custom platform's base_hardware."""
    if key in BY_KEY:
        return key
    platform = custom_platforms().get(key)
    return platform.base_hardware if platform else key


def entry(key: str) -> Hardware:
    """The registry entry of a key (a custom platform: its base hardware's); KeyError names the accepted keys."""
    base = base_hardware(key)
    if base not in BY_KEY:
        raise KeyError(f"unknown hardware '{key}'; accepted: {', '.join(all_hardware())}")
    return BY_KEY[base]


def get_backend(hardware: str):
    if hardware not in BY_KEY:
        platform = custom_platforms().get(hardware)
        if platform is None:
            raise KeyError(f"unknown hardware '{hardware}'; accepted: {', '.join(all_hardware())}")
        return PlatformBackend(platform, get_backend(platform.base_hardware))
    if not BY_KEY[hardware].backend:
        # No rows rather than invented ones: the partition exists, its backend does not yet.
        raise NotImplementedError(f"the hwcov backend for '{hardware}' is not implemented yet; "
                                  f"runnable now: {', '.join(RUNNABLE)}")
    module, cls = BY_KEY[hardware].backend.split(":")
    return getattr(importlib.import_module(module), cls)(hardware)


# the modules that keep a probe answer worth handing to a case worker (a Chromium launch, a GPU child process)
_PROBE_KEEPERS = ("hwcov.backends.browser.backend", "hwcov.backends.torch")


def probe_answers() -> dict:
    """What this process's backends probed that is costly to probe again, by module: a case worker, forked from the
    fork server rather than from this process, adopts it (hwcov.run.inherit). A module not imported probed nothing."""
    out = {}
    for name in _PROBE_KEEPERS:
        module = sys.modules.get(name)
        if module is not None:
            answer = module.probe_answers()
            if answer:
                out[name] = answer
    return out


def adopt_probe_answers(answers: dict) -> None:
    """Make the caller's probe answers this worker's (see probe_answers)."""
    for name, answer in answers.items():
        if name in _PROBE_KEEPERS:
            importlib.import_module(name).adopt_probe_answers(answer)
