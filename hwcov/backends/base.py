"""What every backend shares: the probe's answer (is the hardware here, and what is it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    available: bool
    device_name: str = ""
    runtime_version: str = ""
    error: str = ""
