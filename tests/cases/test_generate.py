import ast
import subprocess
import sys

import pytest

from hwcov.cases import generate
from tests.conftest import SAMPLE


def test_every_generated_file_parses_and_regeneration_rewrites_nothing(archs, tmp_path):
    rows = generate.generate(list(archs.values()), tmp_path)
    assert len(rows) == len(archs) and all(r["rewritten"] for r in rows)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("test_hf_*.py")}
    for content, _ in before.values():
        ast.parse(content)
    again = generate.generate(list(archs.values()), tmp_path)
    assert not any(r["rewritten"] for r in again)
    assert [r["content_hash"] for r in again] == [r["content_hash"] for r in rows]
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("test_hf_*.py")}
    assert after == before


def test_only_changed_files_are_rewritten(archs, tmp_path):
    generate.generate([archs[m] for m in SAMPLE], tmp_path)
    (tmp_path / "test_hf_bert.py").write_text("# stale\n")
    rows = {r["model_type"]: r["rewritten"] for r in generate.generate([archs[m] for m in SAMPLE], tmp_path)}
    assert rows == {m: m == "bert" for m in SAMPLE}


def test_template_chain_follows_family_then_modality(archs, tmp_path):
    content, chain = generate.render(archs["t5"])
    assert chain == "family/seq2seq.py.j2 -> modality/text.py.j2 -> base.py.j2"
    assert 'family_required_inputs = ("decoder_input_ids",)' in content
    _, chain = generate.render(archs["vit"])
    assert chain.endswith("modality/vision.py.j2 -> base.py.j2")


def test_values_reach_code_only_as_literals():
    assert generate.pyliteral({"a": [1, "x'y"]}) == "{'a': [1, \"x'y\"]}"
    with pytest.raises(ValueError):
        generate.pyliteral({"a": object()})
    with pytest.raises(ValueError):
        generate.filename('x"; import os; os.system("touch /tmp/pwned") #')


def test_a_generated_file_runs_under_plain_pytest(archs, tmp_path):
    generate.generate([archs["bert"]], tmp_path)
    path = tmp_path / "test_hf_bert.py"
    ok = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path),
                         "--hardware", "cpu", "-rs"], capture_output=True, text=True, cwd=tmp_path)
    # the forward; the dynamic and generate modes are the exported runtimes' (bert's LM head: both declared)
    assert ok.returncode == 0 and "1 passed, 2 skipped" in ok.stdout, ok.stdout + ok.stderr
    assert ok.stdout.count("cpu does not measure the") == 2
    absent = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path),
                             "--hardware", "cuda", "-rs"], capture_output=True, text=True, cwd=tmp_path)
    assert absent.returncode == 0 and "3 skipped" in absent.stdout and "unavailable" in absent.stdout


def test_modality_checks_require_what_the_model_accepts():
    from hwcov.cases.testing import ArchCaseTests

    class Multimodal(ArchCaseTests):
        required_any_inputs = ("pixel_values", "input_features")

    class Seq2Seq(ArchCaseTests):
        family_required_inputs = ("decoder_input_ids",)

    text_only = {"input_ids", "attention_mask"}
    assert "include none of ['pixel_values']" in Multimodal.input_problem(text_only, text_only | {"pixel_values"})
    assert Multimodal.input_problem(text_only | {"pixel_values"}, text_only | {"pixel_values"}) == ""
    assert Multimodal.input_problem(text_only, text_only) == ""  # a text-to-speech model takes no audio
    assert "lack ['decoder_input_ids']" in Seq2Seq.input_problem(text_only, text_only | {"decoder_input_ids"})
    assert Seq2Seq.input_problem(text_only, text_only) == ""  # a decoder-only audio LM has no decoder ids


BREAKOUTS = ('x"""\npwned_marker = 1\n"""', "x'''\npwned_marker = 1\n'''", 'a\\', 'x\npwned_marker = 1\n#',
             'x\rpwned_marker = 1\r#', 'x\\"""; pwned_marker = 1; """', "{{ pwned_marker }}{% raw %}")


def _names(tree) -> set[str]:
    return ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def test_inventory_strings_reach_generated_code_only_as_text_or_literals(archs):
    """A family/category/class string from the inventory can't close the docstring or a comment (issue #28)."""
    import dataclasses

    for field in ("family", "category", "base_class", "modality"):
        for evil in BREAKOUTS:
            arch = dataclasses.replace(archs["t5"], **{field: evil})
            content, _ = generate.render(arch)
            tree = ast.parse(content)
            kinds = [type(s).__name__ for s in tree.body]
            assert kinds == ["Expr", "ImportFrom", "ImportFrom", "Assign", "Assign", "ClassDef"], (field, evil)
            assert "pwned_marker" not in _names(tree), (field, evil)
            case = next(s for s in tree.body if isinstance(s, ast.Assign) and s.targets[0].id == "CASE")
            values = {k.arg: ast.literal_eval(k.value) for k in case.value.keywords}
            assert values[{"base_class": "model_class"}.get(field, field)] == evil
            assert ast.get_docstring(tree, clean=False).count(evil) == (field != "modality")


def test_identifiers_from_data_are_validated():
    with pytest.raises(ValueError, match="identifier"):
        generate.pyident("Bert; import os")
    assert generate.pyident("Kosmos2_5") == "Kosmos2_5"


def test_two_writers_never_share_a_temp_file(archs, tmp_path, monkeypatch):
    """Two `hwcov --generate-tests` started together: each writes its own temp file, then replaces atomically."""
    import os
    import threading

    real, barrier, sources = os.replace, threading.Barrier(2, timeout=10), []

    def replace(src, dst):
        sources.append(str(src))
        barrier.wait()  # both writers have written their temp file before either moves it
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    errors = []

    def writer():
        try:
            generate.generate([archs["bert"]], tmp_path)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(sources)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_hf_bert.py"]
    ast.parse((tmp_path / "test_hf_bert.py").read_text())
