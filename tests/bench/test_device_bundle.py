"""The GPU device bundle (issue #30): the right wheels, a stratified order, and a sweep that runs from the bundle alone.

The slow test is the check made before the H200 run of 2026-12-04: wheels downloaded for this interpreter, a clean
interpreter that has only torch (and torch's own requirements), numpy and scipy — what the device's image provides —
and benchmarks/device_sweep.py run on it with --hardware cpu: every import the engine makes must come from the bundle.
"""
import collections
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_any_prefix_of_the_order_is_a_stratified_sample(archs):
    ordered = load("device_sweep").stratified(list(archs.values()))
    assert sorted(a.model_type for a in ordered) == sorted(archs)
    sizes = collections.Counter(a.category for a in archs.values())
    rounds = min(sizes.values())
    prefix = collections.Counter(a.category for a in ordered[: rounds * len(sizes)])
    assert set(prefix.values()) == {rounds}  # cut anywhere in the first rounds: every category equally


def test_the_bundle_holds_the_engines_imports_not_the_devices_torch_stack():
    from importlib.metadata import version

    pins = load("device_bundle").plan("3.12")
    assert pins["transformers"] == version("transformers") and pins["tokenizers"] == version("tokenizers")
    assert {"pydantic", "pydantic-core", "huggingface-hub", "optimum", "pytest"} <= set(pins)
    # the device's own: torch, what torch requires (jinja2, sympy ...), the numeric ABI stack; never the app layers
    assert not {"torch", "numpy", "scipy", "sympy", "jinja2", "dagster", "duckdb", "onnxruntime"} & set(pins)


def device_like_python(tmp_path: Path, bundle) -> Path:
    """A venv with no packages, then torch's closure, numpy and scipy linked in from this interpreter."""
    from importlib import metadata

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "py")], check=True)
    base = tmp_path / "base"
    base.mkdir()
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    target = {"python_version": f"{sys.version_info.major}.{sys.version_info.minor}", "extra": ""}
    for name in bundle.closure({"torch", "numpy", "scipy"}, target) | {"pip"}:
        for top in {Path(str(f)).parts[0] for f in metadata.distribution(name).files or []}:
            if (site / top).exists() and not (base / top).exists():
                (base / top).symlink_to(site / top)
    pth = next((tmp_path / "py" / "lib").glob("python3*/site-packages"))
    (pth / "device_base.pth").write_text(str(base) + "\n")
    return tmp_path / "py" / "bin" / "python"


@pytest.mark.slow
def test_the_device_sweep_runs_from_the_bundle_alone(tmp_path):
    bundle = load("device_bundle")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_bundle.py"), "--out", str(wheels),
                            "--python-version", version, "--check"], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-2000:]
    python = device_like_python(tmp_path, bundle)
    assert subprocess.run([python, "-c", "import transformers"], capture_output=True).returncode != 0  # clean
    out = tmp_path / "out"
    ran = subprocess.run([python, str(ROOT / "benchmarks" / "device_sweep.py"), "--hardware", "cpu", "--out", str(out),
                          "--models", "bert,gpt2", "--minutes", "5", "--wheels", str(wheels),
                          "--site", str(tmp_path / "site"), "--work", str(tmp_path / "work")],
                         capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin"})
    assert ran.returncode == 0, ran.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "cpu.jsonl").read_text().splitlines()]
    assert {(r["model_type"], r["status"]) for r in rows} == {("bert", "pass"), ("gpt2", "pass")}
    env = json.loads((out / "env.json").read_text())
    assert env["transformers_from"].startswith(str(tmp_path / "site"))  # the bundle's, nothing else's
    assert env["probe"]["available"] and env["transformers"] == rows[0]["runtime_version"].split("transformers ")[1]
