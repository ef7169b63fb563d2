"""A sweep runs each precision the generated tests declare for the hardware: the reference precision for
every test, the lower ones only where it passed."""
import textwrap

from hwcov import generate, sweep
from hwcov.journal import ResultJournal
from hwcov.runner import Limits

QUIET = {"progress": False, "log": lambda m: None}


def stub_tests(archs, tmp_path, outcomes: dict) -> list[dict]:
    """Generated-test stand-ins declaring cpu precisions fp32/fp16/int8, whose evaluate() returns
    `outcomes[model_type][precision]` without building a model."""
    tests = []
    for model_type, by_precision in outcomes.items():
        path = tmp_path / f"test_stub_{tmp_path.name}_{model_type}.py"  # the sweep caches modules by file stem
        path.write_text(textwrap.dedent(f"""
            from hwcov import generate, inventory
            from hwcov.testing import ArchCaseTests

            class TestStub(ArchCaseTests):
                case = generate.case_for(inventory.by_type()[{model_type!r}])
                precisions = {{"cpu": ("fp32", "fp16", "int8")}}

                @classmethod
                def evaluate(cls, hardware, precision="fp32", batch=None, reference_dir=None):
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


def test_one_named_precision_runs_alone(archs, tmp_path):
    tests = stub_tests(archs, tmp_path, {"bert": {"fp32": "pass", "fp16": "pass", "int8": "pass"}})
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", precision="int8", limits=Limits(workers=1), **QUIET)
    assert [(r["precision"], r["status"]) for r in rows] == [("int8", "pass")]


def test_generated_tests_declare_the_runtime_precisions(archs, tmp_path):
    (test,) = generate.generate([archs["bert"]], tmp_path / "gen")
    assert sweep.declared_precisions(test, "onnxruntime") == ("fp32", "fp16", "int8")
    assert sweep.declared_precisions(test, "openvino") == ("fp32", "fp16", "int8")
    assert sweep.declared_precisions(test, "cpu") == ("fp32",)
