"""`hwcov --checkpoint`: a user's own model, saved with save_pretrained (tiny config, a WordPiece tokenizer trained
offline), runs with its real weights and real tokenized text on cpu, onnxruntime and openvino, from a folder or from
the local Hugging Face cache; its rows sit in hwcov.checkpoint_results keyed by it, never in run_results (issue #26).
"""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hwcov.models.checkpoints import SENTENCES
from tests.models.checkpoint_factory import (
    into_hf_cache,
    save_bert,
    save_gpt2,
    save_remote_code,
    save_vit,
    save_wav2vec2,
    tokenizer,
)

HWCOV = str(Path(sys.executable).with_name("hwcov"))


def hwcov(cwd: Path, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([HWCOV, *args], capture_output=True, text=True, cwd=cwd, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env})


def stored(cwd: Path, sql: str):
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("checkpoint")
    folder = save_bert(cwd / "my-bert")
    return cwd, folder, hwcov(cwd, "--checkpoint", str(folder))


def test_a_folder_runs_on_cpu_onnxruntime_and_openvino_with_its_own_tokenizer(ran):
    cwd, folder, out = ran
    assert out.returncode == 0, out.stderr[-3000:]
    rows = stored(cwd, "SELECT * FROM hwcov.checkpoint_results")
    assert set(rows["checkpoint"]) == {str(folder)}
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert set(rows["checkpoint_sha256"]) == {weights} and set(rows["input_source"]) == {"tokenizer"}
    assert set(rows["remote_code"]) == {"refused"}
    fp32 = rows[rows["precision"] == "fp32"].set_index("hardware")
    assert sorted(fp32.index) == ["cpu", "onnxruntime", "openvino"] and set(fp32["status"]) == {"pass"}
    assert (fp32.loc[["onnxruntime", "openvino"], "max_rel_error"] < 1e-4).all()
    # real text through the real tokenizer: the sentence's own length, not the 8 synthesized ids
    tokens = len(tokenizer()(SENTENCES[0])["input_ids"])
    assert tokens != 8 and f"logits:1x{tokens}x" in fp32.loc["cpu", "output_shapes"]
    assert fp32.loc["cpu", "inputs"] == "attention_mask,input_ids"
    # trained weights at every precision torch has on cpu; evidence on every pass
    assert set(rows[rows["hardware"] == "cpu"]["precision"]) == {"fp32", "fp16", "bf16"}
    passed = rows[rows["status"] == "pass"]
    assert (passed["device_name"] != "").all() and (passed["output_checksum"] != "").all()
    assert "cpu fp32: pass" in out.stdout and "inputs: tokenizer" in out.stdout
    # the modes run on the trained weights too (issue #25): the export's batch of real sentences, then other shapes
    for hardware in ("onnxruntime", "openvino"):
        row = fp32.loc[hardware]
        export_shape, *others = row["dynamic_shapes"].split("; ")
        assert row["dynamic_status"] == "pass" and len(others) == 2, row["dynamic_shapes"]
        assert export_shape.startswith("input_ids 2x") and "(export) pass" in export_shape and "2x8 " not in export_shape
        assert all(o.endswith(" pass") for o in others)
        assert row["generate_status"] == "not_applicable" and "without a KV cache" in row["generate_message"]
    assert out.stdout.count("  dynamic shapes: pass") == 2 and out.stdout.count("  generate: not_applicable") == 2


def test_a_causal_checkpoint_generates_on_the_runtime_with_its_cache(tmp_path):
    """Trained weights, real sentences: the runtime's prefill + decode graphs give torch's tokens (issue #25)."""
    folder = save_gpt2(tmp_path / "my-gpt2")
    out = hwcov(tmp_path, "--checkpoint", str(folder), "--hardware", "onnxruntime", "--precision", "fp32")
    assert out.returncode == 0, out.stderr[-3000:]
    row = stored(tmp_path, "SELECT * FROM hwcov.checkpoint_results").set_index("hardware").loc["onnxruntime"]
    assert row["status"] == "pass" and row["dynamic_status"] == "pass", row["dynamic_shapes"]
    assert row["generate_status"] == "pass" and row["generate_steps"] >= 8, row["generate_message"]
    tokens = [int(t) for t in row["generate_tokens"].split()]
    assert len(tokens) >= 8 and max(tokens) < len(tokenizer()) and row["generate_max_abs_diff"] <= 1e-4  # its vocab
    assert "  generate: pass" in out.stdout


def test_checkpoint_rows_never_mix_with_the_architecture_matrix(ran):
    cwd, _, _ = ran
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        mixed = con.execute("SELECT count(*) FROM hwcov.run_results WHERE checkpoint <> ''").fetchone()[0] \
            if "run_results" in tables else 0
    assert "checkpoint_results" in tables and mixed == 0


def test_fp16_overflow_of_trained_weights_fails_with_the_numbers(tmp_path):
    """Activations past fp16's 65504 (an outlier feature, constructed): random weights would never show it."""
    folder = save_bert(tmp_path / "outlier-bert", overflow=3e6)
    out = hwcov(tmp_path, "--checkpoint", str(folder), "--hardware", "cpu")
    assert out.returncode == 0, out.stderr[-3000:]
    rows = stored(tmp_path, "SELECT * FROM hwcov.checkpoint_results").set_index("precision")
    assert rows.loc["fp32", "status"] == "pass" and rows.loc["bf16", "status"] == "pass"  # bf16 has fp32's range
    fp16 = rows.loc["fp16"]
    assert fp16["status"] == "fail_accuracy" and fp16["error_pattern"] == "low_precision_overflow"
    assert "first non-finite activation: bert.encoder.layer.0.intermediate.dense (Linear)" in fp16["error_message"]
    assert "largest finite value is 65504" in fp16["error_message"] and fp16["max_abs_diff"] == float("inf")


def test_a_hub_id_resolves_from_the_local_cache_and_nowhere_else(tmp_path):
    cache = tmp_path / "hub"
    into_hf_cache(save_bert(tmp_path / "src"), cache, "acme/tiny-bert")
    out = hwcov(tmp_path, "--checkpoint", "acme/tiny-bert", "--hardware", "cpu", "--precision", "fp32",
                "--batch-size", "1,2", HF_HUB_CACHE=str(cache))
    assert out.returncode == 0, out.stderr[-3000:]
    rows = stored(tmp_path, "SELECT checkpoint, batch_size, status, output_shapes FROM hwcov.checkpoint_results "
                            "ORDER BY batch_size")
    assert list(zip(rows["checkpoint"], rows["batch_size"], rows["status"])) == [
        ("acme/tiny-bert", 1, "pass"), ("acme/tiny-bert", 2, "pass")]  # two sentences, padded to one length
    assert rows["output_shapes"][1].startswith("logits:2x")
    missing = hwcov(tmp_path, "--checkpoint", "acme/not-cached", HF_HUB_CACHE=str(cache))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and str(cache) in missing.stderr and "never downloads" in missing.stderr


def test_a_run_naming_no_checkpoint_reruns_every_registered_one(ran, monkeypatch):
    """The UI's way in: checkpoint_results launched with an empty `checkpoints` list (from this process: its cases
    fork from the fork server)."""
    from hwcov.orchestration import pipeline

    cwd, folder, _ = ran
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("HWCOV_DB_PATH", "HWCOV_ARTIFACTS_DIR", "HWCOV_GENERATED_DIR", "DAGSTER_HOME", "HWCOV_LIBRARY_LOG"):
        monkeypatch.setenv(name, "")  # recorded, so the run's own settings end with the test
        monkeypatch.delenv(name)  # the folder's own paths, as in the runs before
    assert pipeline.run_checkpoints(["cpu"], [], precision="fp32")
    rows = stored(cwd, "SELECT checkpoint, hardware, precision, status FROM hwcov.checkpoint_results")
    assert set(rows["checkpoint"]) == {str(folder)}
    assert {"onnxruntime", "openvino"} <= set(rows["hardware"])  # other partitions kept as they were


def test_remote_code_runs_only_with_the_flag_and_rows_say_so(tmp_path):
    folder = save_remote_code(tmp_path / "acme")
    refused = hwcov(tmp_path, "--checkpoint", str(folder), "--hardware", "cpu")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--trust-remote-code" in refused.stderr
    assert not (tmp_path / "benchmark_db.duckdb").exists()  # refused before anything was written
    out = hwcov(tmp_path, "--checkpoint", str(folder), "--hardware", "cpu", "--precision", "fp32",
                "--trust-remote-code", HF_MODULES_CACHE=str(tmp_path / "modules"))
    assert out.returncode == 0, out.stderr[-3000:]
    row = stored(tmp_path, "SELECT model_type, model_class, status, remote_code FROM hwcov.checkpoint_results").iloc[0]
    assert tuple(row) == ("acme-net", "AcmeModel", "pass", "allowed")


def test_benchmark_times_the_passing_precisions_at_lengths_of_its_own_text(ran):
    cwd, folder, _ = ran
    out = hwcov(cwd, "--checkpoint", str(folder), "--hardware", "cpu", "--benchmark", "--seq-lens", "16,48",
                "--min-duration", "0.05")
    assert out.returncode == 0, out.stderr[-3000:]
    cells = stored(cwd, "SELECT * FROM hwcov.checkpoint_benchmarks")
    assert set(cells["checkpoint"]) == {str(folder)} and set(cells["status"]) == {"pass"}
    assert sorted(set(zip(cells["precision"], cells["seq_len"]))) == [
        (p, s) for p in ("bf16", "fp16", "fp32") for s in (16, 48)]
    assert (cells["p50_ms"] > 0).all() and (cells["iterations"] > 0).all() and (cells["device_name"] != "").all()
    assert (cells[cells["precision"] == "fp32"]["max_abs_diff"] < 1e-6).all()  # parity against its own reference
    assert "| cpu | fp32 | 1 | 48 | pass |" in out.stdout


def test_runs_name_the_command_that_launched_them(ran):
    """The Dagster UI's runs list says which hwcov command started each run (issue #29)."""
    from dagster import DagsterInstance

    cwd, folder, _ = ran
    runs = DagsterInstance.from_config(str(cwd / ".dagster")).get_runs()
    commands = {r.tags.get("hwcov/command") for r in runs}
    assert f"hwcov --checkpoint {folder}" in commands


@pytest.mark.parametrize("make, source, shape", [
    (save_vit, "image_processor", "logits:1x3"),  # 3 labels, from 32x32 pixels its processor made
    (save_wav2vec2, "feature_extractor", "last_hidden_state:1x399x32"),  # 1 s at 8 kHz through the conv stack
])
def test_its_own_image_processor_or_feature_extractor_makes_the_inputs(tmp_path, make, source, shape):
    folder = make(tmp_path / "model")
    out = hwcov(tmp_path, "--checkpoint", str(folder), "--hardware", "cpu", "--precision", "fp32")
    assert out.returncode == 0, out.stderr[-3000:]
    row = stored(tmp_path, "SELECT * FROM hwcov.checkpoint_results").iloc[0]
    assert row["status"] == "pass" and row["input_source"] == source, row["error_message"]
    assert shape in row["output_shapes"]
