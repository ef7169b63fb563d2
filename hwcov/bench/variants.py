"""Optimization variants: a benchmark dimension of its own, each one real switch on a real backend.

Each backend family declares the variants it understands (Backend.variants: name -> (settings, description)) and
applies them in its own load(); this module is the lookup over every family the registry serves.
`templates/benchmarks.yaml` says which variants a hardware measures (`default`: what the sweep runs; `baseline`
and `optimized`: the comparison `--optimization-impact` reports).
"""
from __future__ import annotations

import importlib

from hwcov.backends.base import NotApplicable as VariantNotApplicable  # a `not_applicable` row with the reason


def _collect() -> dict:
    """name -> (backend family, settings, description), over the registry's backend classes in table order."""
    from hwcov.backends.registry import HARDWARE_TABLE

    found: dict = {}
    for path in dict.fromkeys(h.backend for h in HARDWARE_TABLE if h.backend):
        module, name = path.split(":")
        cls = getattr(importlib.import_module(module), name)
        for variant, (settings, description) in cls.variants.items():
            found.setdefault(variant, (cls.family, settings, description))
    return found


VARIANTS = _collect()


def check(variant: str, backend) -> None:
    """KeyError for an unknown variant; VariantNotApplicable when it switches another family's setting."""
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant '{variant}'; accepted: {', '.join(VARIANTS)}")
    want = VARIANTS[variant][0]
    if want != backend.family:
        raise VariantNotApplicable(f"variant {variant} switches a {want} setting; {backend.hardware} runs on "
                                   f"{backend.family or type(backend).__name__}")


__all__ = ["VARIANTS", "VariantNotApplicable", "check"]
