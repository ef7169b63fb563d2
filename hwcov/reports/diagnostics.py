"""`--diagnostics`: one case's full error, environment and versions, plus a standalone repro script.

The repro needs only torch and transformers: the tiny config is written as a literal and the
synthesized inputs are saved beside it, so it runs without hwcov (and without the hub).
"""
from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "transformers", "onnxruntime", "openvino", "dagster", "duckdb", "hwcov")

REPRO = '''"""Standalone repro for {model_type} on {hardware} ({status}), written by `hwcov --diagnostics`.

    HF_HUB_OFFLINE=1 python repro.py
"""
import json
from pathlib import Path

import torch
import transformers

HERE = Path(__file__).resolve().parent
config = transformers.AutoConfig.for_model({model_type!r}, **json.loads((HERE / "config.json").read_text()))
model = getattr(transformers, {model_class!r})(config).eval()
inputs = torch.load(HERE / "inputs.pt", weights_only=False)
torch.manual_seed(0)
with torch.no_grad():
    output = model(**inputs)
print({{k: tuple(v.shape) for k, v in output.items() if torch.is_tensor(v)}})
# The failing hardware was {hardware!r}; its error is in diagnostics.md beside this file.
'''


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
        (out_dir / "repro.py").write_text(REPRO.format(model_type=case.model_type, model_class=case.model_class,
                                                       hardware=row["hardware"], status=row["status"]))
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
