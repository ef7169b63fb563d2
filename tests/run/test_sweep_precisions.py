"""A sweep runs each precision the generated tests declare for the hardware: the reference precision for
every test, the lower ones only where it passed."""
import textwrap

from hwcov.cases import generate
from hwcov.run import sweep
from hwcov.run.journal import ResultJournal
from hwcov.run.runner import Limits

QUIET = {"progress": False, "log": lambda m: None}


def stub_tests(archs, tmp_path, outcomes: dict) -> list[dict]:
    """Generated-test stand-ins declaring cpu precisions fp32/fp16/int8, whose evaluate() returns
    `outcomes[model_type][precision]` without building a model."""
    tests = []
    for model_type, by_precision in outcomes.items():
        path = tmp_path / f"test_stub_{tmp_path.name}_{model_type}.py"  # the sweep caches modules by file stem
        path.write_text(textwrap.dedent(f"""
            from hwcov.cases import generate
            from hwcov.models import inventory
            from hwcov.cases.testing import ArchCaseTests

            class TestStub(ArchCaseTests):
                case = generate.case_for(inventory.by_type()[{model_type!r}])
                precisions = {{"cpu": ("fp32", "fp16", "int8")}}

                @classmethod
                def evaluate(cls, hardware, precision="fp32", batch=None, reference_dir=None, modes=()):
                    return {{"status": {by_precision!r}[precision], "error_message": "stub"}}
        """))
        tests.append({"model_type": model_type, "path": str(path), "content_hash": model_type})
    return tests


def test_lower_precisions_run_only_where_the_reference_precision_passed(archs, tmp_path):
    tests = stub_tests(archs, tmp_path, {
        "bert": {"fp32": "pass", "fp16": "pass", "int8": "fail_accuracy"},
        "gpt2": {"fp32": "fail_to_run", "fp16": "pass", "int8": "pass"},
    })
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", precision=None, limits=Limits(workers=1), **QUIET)
    got = {(r["model_type"], r["precision"]): r["status"] for r in rows}
    assert got == {("bert", "fp32"): "pass", ("bert", "fp16"): "pass", ("bert", "int8"): "fail_accuracy",
                   ("gpt2", "fp32"): "fail_to_run"}
    assert len({r["case_key"] for r in rows}) == 4  # one key per (case, precision)
    lines = len(ResultJournal(tmp_path / "art", "cpu").rows())
    again = sweep.sweep(tests, "cpu", tmp_path / "art", precision=None, **QUIET)
    assert len(ResultJournal(tmp_path / "art", "cpu").rows()) == lines and len(again) == 4  # all reused


def test_a_reference_precision_that_stops_passing_withdraws_the_lower_ones(archs, tmp_path):
    """sam2_video's fp16/int8 passes outlived its fp32 turning fail_to_run: a sweep keeps no lower-precision row
    beside a reference precision that no longer passes, in this run or any later one."""
    art = tmp_path / "art"
    (tmp_path / "before").mkdir(), (tmp_path / "after").mkdir()
    passing = stub_tests(archs, tmp_path / "before", {"gpt2": {"fp32": "pass", "fp16": "pass", "int8": "pass"}})
    assert len(sweep.sweep(passing, "cpu", art, precision=None, **QUIET)) == 3
    failing = stub_tests(archs, tmp_path / "after", {"gpt2": {"fp32": "fail_to_run", "fp16": "pass", "int8": "pass"}})
    failing[0]["content_hash"] = "gpt2, changed"  # a new test content: the stored rows' keys no longer match
    rows = sweep.sweep(failing, "cpu", art, precision=None, **QUIET)
    journal = ResultJournal(art, "cpu")
    assembled = sweep.assemble(rows, journal, {"gpt2"})
    assert [(r["precision"], r["status"]) for r in assembled] == [("fp32", "fail_to_run")]
    assert set(journal.latest_by_case()) == {("gpt2", "fp32", 1)}
    withdrawn = [r for r in journal.rows() if r.get("withdrawn")]
    assert [r["precision"] for r in withdrawn] == ["fp16", "int8"] and "fail_to_run" in withdrawn[0]["withdrawn"]


def test_one_named_precision_runs_alone(archs, tmp_path):
    tests = stub_tests(archs, tmp_path, {"bert": {"fp32": "pass", "fp16": "pass", "int8": "pass"}})
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", precision="int8", limits=Limits(workers=1), **QUIET)
    assert [(r["precision"], r["status"]) for r in rows] == [("int8", "pass")]


def test_generated_tests_declare_the_runtime_precisions(archs, tmp_path):
    (test,) = generate.generate([archs["bert"]], tmp_path / "gen")
    assert sweep.declared_precisions(test, "onnxruntime") == ("fp32", "fp16", "int8")
    assert sweep.declared_precisions(test, "openvino") == ("fp32", "fp16", "int8")
    assert sweep.declared_precisions(test, "cpu") == ("fp32",)
