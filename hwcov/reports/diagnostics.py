"""`--diagnostics`: one case's full error, environment and versions, plus a standalone repro script.

The repro needs only torch and transformers: the tiny config is written as a literal and the
synthesized inputs are saved beside it, so it runs without hwcov (and without the hub).
Every stored value (model type and class, hardware, status) enters repro.py as a Python string literal (repr
of its text), never as docstring or code text; the output folder's name is a safe slug (folder()).
"""
from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "transformers", "onnxruntime", "openvino", "dagster", "duckdb", "hwcov")

REPRO = '''"""Standalone repro written by `hwcov --diagnostics` (the case is named by the literals below).

    HF_HUB_OFFLINE=1 python repro.py
"""
import json
from pathlib import Path

import torch
import transformers

MODEL_TYPE = {model_type}
MODEL_CLASS = {model_class}
HARDWARE = {hardware}  # the failing hardware; its error is in diagnostics.md beside this file
STATUS = {status}

HERE = Path(__file__).resolve().parent
config = transformers.AutoConfig.for_model(MODEL_TYPE, **json.loads((HERE / "config.json").read_text()))
model = getattr(transformers, MODEL_CLASS)(config).eval()
inputs = torch.load(HERE / "inputs.pt", weights_only=False)
torch.manual_seed(0)
with torch.no_grad():
    output = model(**inputs)
print({{k: tuple(v.shape) for k, v in output.items() if torch.is_tensor(v)}})
'''


def literal(value) -> str:
    """A stored value as a Python string literal: repr of its text (never of an arbitrary object)."""
    return repr("" if value is None else str(value))


def repro_script(model_type, model_class, hardware, status) -> str:
    """repro.py's text: each value a string literal."""
    return REPRO.format(model_type=literal(model_type), model_class=literal(model_class), hardware=literal(hardware),
                        status=literal(status))


def folder(base: Path, model_type, hardware) -> Path:
    """`base/<model>-<hardware>`: the name as it is when plain, else a slug plus a short hash; always inside base."""
    text = f"{model_type}-{hardware}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,150}", text) or ".." in text:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_')[:60] or 'case'}-{digest}"
    out = Path(base) / text
    if out.resolve().parent != Path(base).resolve():
        raise AssertionError(f"{out} is not inside {base}")
    return out


def environment() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "packages": versions}


def write(row: dict, case, out_dir: Path) -> Path:
    """diagnostics.md + repro.py (+ config.json, inputs.pt when the case builds) in out_dir."""
    import torch

    from hwcov.models.build import build_case

    out_dir.mkdir(parents=True, exist_ok=True)
    built_note = "The case builds; repro.py reruns its torch forward."
    try:
        built = build_case(case, int(row.get("batch_size") or 1))
        diff = built.config.to_diff_dict()
        diff.pop("model_type", None)
        diff.pop("transformers_version", None)
        (out_dir / "config.json").write_text(json.dumps(diff, indent=1, sort_keys=True, default=str))
        torch.save(built.feed, out_dir / "inputs.pt")
        (out_dir / "repro.py").write_text(repro_script(
            case.model_type, case.model_class, row.get("hardware"), row.get("status")), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - the failure to build is itself the diagnosis
        built_note = f"The case does not build ({type(exc).__name__}: {exc}); no repro.py was written."
    env = environment()
    text = "\n".join([
        f"# Diagnostics: {case.model_type} on {row['hardware']}\n",
        f"- Status: **{row['status']}** (pattern: {row.get('error_pattern') or 'none'})",
        f"- Precision / batch: {row.get('precision')} / {row.get('batch_size')}",
        f"- Device: {row.get('device_name') or 'n/a'}", f"- Runtime: {row.get('runtime_version') or 'n/a'}",
        f"- Tested: {row.get('test_timestamp')}", f"- {built_note}\n",
        "## Error\n", "```", str(row.get("error_message") or "(none)"), "```\n",
        "## Traceback\n", "```", str(row.get("traceback") or "(none recorded)"), "```\n",
        "## Case (from the generated test)\n", "```json", json.dumps(case.__dict__, indent=1, default=str), "```\n",
        "## Environment\n", "```json", json.dumps(env, indent=1), "```\n",
    ])
    path = out_dir / "diagnostics.md"
    path.write_text(text, encoding="utf-8")
    return path
