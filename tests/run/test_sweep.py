from hwcov.cases import generate
from hwcov.run import sweep
from hwcov.run.journal import ResultJournal
from hwcov.run.runner import Limits
from tests.conftest import SAMPLE


def test_cpu_sweep_passes_with_evidence_and_reuses_unchanged_results(archs, tmp_path):
    tests = generate.generate([archs[m] for m in SAMPLE], tmp_path / "gen")
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", limits=Limits(workers=2), progress=False, log=lambda m: None)
    by_type = {r["model_type"]: r for r in rows}
    assert set(by_type) == set(SAMPLE)
    for r in rows:
        assert r["status"] == "pass", (r["model_type"], r["error_message"])
        assert r["device_name"].startswith("cpu") and "torch" in r["runtime_version"]
        assert len(r["output_checksum"]) == 16 and r["determinism_diff"] == 0.0  # the reference: no diff to itself
        assert r["mutation_sensitivity"] >= 10 and r["uninformative_outputs"] == ""
        assert r["reference_path"].endswith(".npz")
    journal = ResultJournal(tmp_path / "art", "cpu")
    lines = len(journal.rows())
    again = sweep.sweep(tests, "cpu", tmp_path / "art", progress=False, log=lambda m: None)
    assert len(journal.rows()) == lines  # nothing reran
    assert {r["case_key"] for r in again} == {r["case_key"] for r in rows}
    forced = sweep.sweep(tests[:1], "cpu", tmp_path / "art", force=True, progress=False, log=lambda m: None)
    assert len(journal.rows()) == lines + 1 and forced[0]["output_checksum"] == by_type[SAMPLE[0]]["output_checksum"]


def test_absent_hardware_is_unavailable_with_the_probes_text_without_building_models(archs, tmp_path):
    tests = generate.generate([archs["bert"]], tmp_path / "gen")
    (row,) = sweep.sweep(tests, "cuda", tmp_path / "art", progress=False, log=lambda m: None)
    assert row["status"] == "unavailable"
    assert "CUDA" in row["error_message"] or "NVIDIA" in row["error_message"]
    assert row["output_checksum"] == "" and row["error_pattern"] == ""


def test_assemble_keeps_other_architectures_from_the_journal(archs, tmp_path):
    journal = ResultJournal(tmp_path, "cpu")
    old = {"model_type": "gpt2", "precision": "fp32", "batch_size": 1, "status": "pass", "case_key": "k1"}
    journal.append(old)
    new = [{"model_type": "bert", "precision": "fp32", "batch_size": 1, "status": "pass", "case_key": "k2"}]
    assert {r["model_type"] for r in sweep.assemble(new, journal, {"bert", "gpt2"})} == {"bert", "gpt2"}
    assert {r["model_type"] for r in sweep.assemble(new, journal, {"bert"})} == {"bert"}


def test_resume_keeps_rows_made_by_older_code_and_reruns_crashes(archs, tmp_path, monkeypatch):
    import json

    tests = generate.generate([archs["bert"], archs["gpt2"]], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None}
    sweep.sweep(tests, "cpu", tmp_path / "art", **quiet)
    journal = ResultJournal(tmp_path / "art", "cpu")
    monkeypatch.setattr(sweep, "engine_digest", lambda: "the engine changed since")
    kept = sweep.sweep(tests, "cpu", tmp_path / "art", resume=True, **quiet)
    assert len(journal.rows()) == 2 and {r["status"] for r in kept} == {"pass"}  # nothing reran
    crashed = {**journal.latest_by_case()[("gpt2", "fp32", 1)], "status": "crash"}
    with open(journal.path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(crashed) + "\n")
    sweep.sweep(tests, "cpu", tmp_path / "art", resume=True, **quiet)
    assert [r["model_type"] for r in journal.rows()[3:]] == ["gpt2"]  # only the crashed case ran again
    sweep.sweep(tests[:1], "cpu", tmp_path / "art", **quiet)  # without --resume the old row is stale: rerun
    assert [r["model_type"] for r in journal.rows()[4:]] == ["bert"]


def test_a_worker_killed_in_a_mode_keeps_the_forward_and_the_other_modes(archs, tmp_path, monkeypatch):
    """A native crash inside one mode (OpenVINO's SIGABRT in longcat_flash's dynamic check) kills the case's worker
    before it reports: the row keeps the forward's pass and the other mode, measured again without the dead one,
    whose verdict is the crash; one row is journaled, and a resumed sweep does not run the crash again."""
    import os

    from hwcov.backends import dynamic

    monkeypatch.setattr(dynamic, "check", lambda *a, **k: os.abort())  # forked from this process: the patch holds
    tests = generate.generate([archs["gpt2"]], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None}
    (row,) = sweep.sweep(tests, "onnxruntime", tmp_path / "art", limits=Limits(workers=1, start="fork"), **quiet)
    assert row["status"] == "pass", row["error_message"]
    assert row["dynamic_status"] == "crash" and "SIGABRT" in row["dynamic_message"]
    assert "died in the dynamic mode" in row["dynamic_message"]
    assert row["generate_status"] == "pass", row.get("generate_message")
    journal = ResultJournal(tmp_path / "art", "onnxruntime")
    assert len(journal.rows()) == 1
    sweep.sweep(tests, "onnxruntime", tmp_path / "art", resume=True, limits=Limits(workers=1, start="fork"), **quiet)
    assert len(journal.rows()) == 1


def test_a_route_that_kills_the_worker_is_left_out_of_a_rerun_and_named_in_the_row(archs, tmp_path, monkeypatch):
    """A native crash in one export route (TorchScript's SIGFPE on ernie4_5_vl_moe's second route) used to make the
    row a `crash` that hid what the other routes said: the case runs again without that route, and its row is what
    the others gave, naming the route that died."""
    import os

    from hwcov.export import routes

    real = routes.export

    def first_route_aborts(built, case, batch, route, export_dir):
        if route == "hf-onnx":
            os.abort()
        return real(built, case, batch, route, export_dir)

    monkeypatch.setattr(routes, "export", first_route_aborts)  # forked from this process: the patch holds
    tests = generate.generate([archs["bert"]], tmp_path / "gen")
    (row,) = sweep.sweep(tests, "onnxruntime", tmp_path / "art", limits=Limits(workers=1, start="fork"),
                         modes=(), progress=False, log=lambda m: None)
    assert row["status"] == "pass" and row["export_route"] == "torch-onnx-legacy", row["error_message"]
    assert row["error_message"].startswith("passed via torch-onnx-legacy after hf-onnx: the case's worker died in "
                                           "the hf-onnx route (worker died with SIGABRT)"), row["error_message"]
