"""Optimization patches: opportunities from measured cells, validation of patch files, applying them as the
variants a hardware's optimized benchmarks measure."""
import shutil

import pandas as pd
import pytest
import yaml

from hwcov.bench import cells, patches
from hwcov.core import paths
from hwcov.core.errors import ConfigError


def cell(model, hw, variant, p50, precision="fp32", status="pass"):
    return {"model_type": model, "hardware": hw, "variant": variant, "precision": precision, "batch_size": 1,
            "seq_len": 8, "status": status, "p50_ms": p50}


@pytest.fixture
def templates(tmp_path, monkeypatch):
    shutil.copytree(paths.TEMPLATES_DIR, tmp_path / "templates")
    monkeypatch.setenv("HWCOV_TEMPLATES_DIR", str(tmp_path / "templates"))
    return tmp_path / "templates"


def test_opportunities_are_unmeasured_or_faster_variants_of_the_hardware_family(templates):
    bench = pd.DataFrame([cell("bert", "cpu", "eager", 1.0), cell("bert", "onnxruntime", "ort_disable_all", 2.0),
                          cell("bert", "onnxruntime", "ort_enable_basic", 1.0),  # 2x faster: kept
                          cell("bert", "onnxruntime", "ort_enable_all", 2.5),  # slower: no patch
                          cell("bert", "cuda", "eager", 0.0, status="unavailable")])
    found = patches.opportunities(bench)
    got = {(r.hardware, r.variant): r.evidence for r in found.itertuples()}
    assert set(got) == {("cpu", "torch_compile"), ("onnxruntime", "ort_enable_basic")}
    assert got[("cpu", "torch_compile")].startswith("not measured yet beside eager")
    assert got[("onnxruntime", "ort_enable_basic")].startswith("measured 2.00x the ort_disable_all p50 on 1 cells")
    assert "fp16, int8" in got[("onnxruntime", "ort_enable_basic")]  # precisions the hardware declares, unmeasured


def test_written_patches_load_apply_and_join_the_optimized_variants(templates, tmp_path):
    found = patches.opportunities(pd.DataFrame([cell("bert", "onnxruntime", "ort_disable_all", 2.0)]))
    written = patches.write(found, tmp_path / "p")
    assert sorted(p.name for p in written) == ["onnxruntime-ort_enable_all.yaml", "onnxruntime-ort_enable_basic.yaml"]
    table = patches.apply(patches.load(tmp_path / "p"))
    assert table["onnxruntime"]["variants"] == ["ort_enable_all", "ort_enable_basic"]
    assert cells.variants_for("onnxruntime", "optimized") == ["ort_enable_basic", "ort_enable_all"]
    assert cells.variants_for("cpu", "optimized") == ["torch_compile"]  # other hardware untouched


@pytest.mark.parametrize("patch, message", [
    ({"hardware": "cpu", "variant": "torch_compile", "settings": {"compile": False}}, "field 'settings'"),
    ({"hardware": "cpu", "variant": "ort_enable_all"}, "switches a onnxruntime setting; cpu runs on torch"),
    ({"hardware": "cpu", "variant": "nope"}, "unknown variant"),
    ({"hardware": "moon", "variant": "eager"}, "unknown hardware"),
    ({"hardware": "cpu", "variant": "torch_compile", "precisions": ["fp16"]}, "cpu declares fp32"),
    ({"hardware": "cpu", "variant": "torch_compile", "models": ["../x"]}, "field 'models'"),
    ({"hardware": "cpu", "variant": "torch_compile", "run": "rm -rf /"}, "unknown field 'run'"),
])
def test_a_patch_is_refused_with_its_file_and_field(templates, tmp_path, patch, message):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.yaml").write_text(yaml.safe_dump(patch))
    with pytest.raises(ConfigError, match=message):
        patches.load(tmp_path / "p")
    assert not cells.applied_patches_path().exists()
