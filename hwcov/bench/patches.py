"""Optimization patches: YAML files naming a benchmark variant (torch.compile, an ORT graph optimization level, an
OpenVINO hint) and the precisions to measure it at, for one hardware.

The seed guide's optimization workflow (identify -> generate patches -> apply -> validate) on hwcov's benchmarks:
`opportunities` reads the measured cells and lists, per hardware, the variants its backend family knows that are
unmeasured or measured faster than the baseline, and the precisions the hardware declares that no cell measured
yet; `write` turns each into a patch file; `load` validates a folder of them (a variant is only ever one the
backend really switches, hwcov.bench.variants; a file claiming other settings is refused); `apply` records them in
templates/optimization_patches.yaml, which `variants_for(hardware, "optimized")` (hwcov.bench.cells) reads, so
--benchmark-optimized and --validate-optimizations measure them through the same benchmark_results asset.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

from hwcov.bench.cells import applied_patches, applied_patches_path, variants_for
from hwcov.core import data
from hwcov.core.errors import ConfigError

FIELDS = {"hardware", "variant", "family", "settings", "precisions", "models", "evidence", "description"}
FASTER = 1.05  # a measured variant is an opportunity when its median speedup over the baseline is above this
HEADER = """\
# Written by `hwcov --apply-optimization-patches` (hwcov/bench/patches.py): variants each hardware's
# --benchmark-optimized and --validate-optimizations measure beside templates/benchmarks.yaml's own.
"""


def family_of(hardware: str) -> str:
    from hwcov.backends.registry import get_backend

    return get_backend(hardware).family


def opportunities(bench: pd.DataFrame) -> pd.DataFrame:
    """One row per (hardware, variant) worth a patch, from the measured cells: its evidence and precisions."""
    from hwcov.backends.registry import entry
    from hwcov.bench.variants import VARIANTS

    rows = []
    ok = bench[bench["status"] == "pass"]
    for hw, part in ok.groupby("hardware"):
        family, baseline = family_of(hw), (variants_for(hw, "baseline") or [""])[0]
        base = part[part["variant"] == baseline].set_index(["model_type", "precision", "batch_size", "seq_len"])
        measured_precisions = sorted(set(part["precision"]))
        missing = [p for p in entry(hw).precisions if p not in measured_precisions]
        for variant, (owner, settings, description) in VARIANTS.items():
            if owner != family or variant == baseline:
                continue
            speedups = []
            for r in part[part["variant"] == variant].itertuples(index=False):
                key = (r.model_type, r.precision, r.batch_size, r.seq_len)
                if key in base.index and r.p50_ms > 0:
                    speedups.append(float(base.loc[[key], "p50_ms"].min()) / r.p50_ms)
            if speedups and pd.Series(speedups).median() <= FASTER:
                continue  # measured and not faster: no patch
            evidence = (f"measured {pd.Series(speedups).median():.2f}x the {baseline} p50 on {len(speedups)} cells"
                        if speedups else f"not measured yet beside {baseline}")
            rows.append({"hardware": hw, "variant": variant, "family": family, "settings": settings,
                         "description": description, "precisions": measured_precisions + missing,
                         "models": sorted(set(base.index.get_level_values(0))) or sorted(set(part["model_type"])),
                         "evidence": evidence + (f"; precisions not measured yet: {', '.join(missing)}"
                                                 if missing else "")})
    return pd.DataFrame(rows, columns=["hardware", "variant", "family", "settings", "description", "precisions",
                                       "models", "evidence"])


def file_name(hardware: str, variant: str) -> str:
    name = f"{hardware}-{variant}.yaml"
    if not re.fullmatch(r"[a-z0-9_]+-[a-z0-9_]+\.yaml", name):
        raise ValueError(f"refusing patch file name {name!r}")
    return name


def write(found: pd.DataFrame, folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for row in found.to_dict("records"):
        target = folder / file_name(row["hardware"], row["variant"])
        body = "# An optimization patch (hwcov --generate-optimization-patches); apply with\n" \
               f"# hwcov --apply-optimization-patches --input {folder}\n"
        target.write_text(body + yaml.safe_dump(row, sort_keys=False, width=110), encoding="utf-8")
        out.append(target)
    return out


def check(patch: dict, where: str) -> dict:
    """A patch as written, validated: known hardware, a variant its backend family switches with exactly those
    settings, precisions the hardware declares, model names as text. ConfigError names the file and field."""
    from hwcov.backends.registry import all_hardware, entry
    from hwcov.bench.variants import VARIANTS

    if not isinstance(patch, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(patch).__name__}")
    unknown = sorted(set(patch) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; accepted: {', '.join(sorted(FIELDS))}")
    hw, variant = patch.get("hardware"), patch.get("variant")
    if hw not in all_hardware():
        raise ConfigError(f"{where}: field 'hardware': unknown hardware {hw!r}")
    if variant not in VARIANTS:
        raise ConfigError(f"{where}: field 'variant': unknown variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    owner, settings, _ = VARIANTS[variant]
    if owner != family_of(hw):
        raise ConfigError(f"{where}: field 'variant': {variant} switches a {owner} setting; {hw} runs on "
                          f"{family_of(hw)}")
    if "settings" in patch and patch["settings"] != settings:
        raise ConfigError(f"{where}: field 'settings': {variant} is {settings}, not {patch['settings']}")
    precisions = patch.get("precisions") or list(entry(hw).precisions[:1])
    if not isinstance(precisions, list) or not set(precisions) <= set(entry(hw).precisions):
        raise ConfigError(f"{where}: field 'precisions': {hw} declares {', '.join(entry(hw).precisions)}")
    models = patch.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) and re.fullmatch(r"[a-z0-9][a-z0-9_.\-]*", m)
                                               for m in models):
        raise ConfigError(f"{where}: field 'models': a list of model types")
    return {"hardware": hw, "variant": variant, "precisions": precisions, "models": models}


def load(folder: Path) -> list[dict]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder of optimization patches")
    return [check(data.read_yaml(f), str(f)) for f in sorted(folder.glob("*.yaml"))]


def apply(patches: list[dict], hardware: list[str] | None = None) -> dict:
    """Record the patches (those of `hardware`, if given) in templates/optimization_patches.yaml; the result."""
    table = applied_patches()
    for p in patches:
        if hardware and p["hardware"] not in hardware:
            continue
        have = table.setdefault(p["hardware"], {"variants": [], "precisions": [], "models": []})
        for key, values in (("variants", [p["variant"]]), ("precisions", p["precisions"]), ("models", p["models"])):
            have[key] = list(dict.fromkeys([*(have.get(key) or []), *values]))
    path = applied_patches_path()
    path.write_text(HEADER + yaml.safe_dump({"hardware": table}, sort_keys=True, width=110), encoding="utf-8")
    data.clear_cache()
    return table
