"""Fuzz (issue #28): hostile strings through every place a stored or configured string reaches generated code, a
file name or HTML. Generated code must compile to exactly the expected statements, nothing may be written outside
the output folder, and no markup from the data may reach a page unescaped. Deterministic: no hypothesis needed."""
import ast
import csv
import dataclasses
import io
import itertools
import re

import pandas as pd
import pytest

from hwcov.cases import generate
from hwcov.cli import verbs_results
from hwcov.core.schema import conform
from hwcov.models.inventory import NAME_RE
from hwcov.reports import dashboard, diagnostics

MARK = "pwned_marker"
ATOMS = ['"""', "'''", '"', "'", "\\", "\n", "\r", "\r\n", "\t", "\x0c", "\x00", "\u2028", "\x85", "#",
         "{{ " + MARK + " }}", "{% raw %}", "{% endraw %}", "{# x #}", "../", "..\\", "/etc/passwd", "C:\\Windows\\",
         "<script>" + MARK + "()</script>", "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", f"{MARK} = 1",
         f"__import__('os').system('{MARK}')", "\\N{BULLET}", "\\x00", "é漢字🙂" * 700, ")", "(", "\\\n"]


def hostile() -> list[str]:
    out = list(ATOMS)
    for a, b in itertools.product(ATOMS, repeat=2):
        out.append(f"x{a}{b}\n{MARK} = 1\n{a}")
    for a, b, c in itertools.islice(itertools.product(ATOMS[:12], ATOMS[12:24], ATOMS[24:]), 0, 10_000, 37):
        out.append(a + b + c)
    return list(dict.fromkeys(out))


STRINGS = hostile()


def test_the_generator_makes_enough_strings():
    assert len(STRINGS) >= 200


def _names(tree) -> set[str]:
    return ({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def _check_generated(content: str, expect: dict) -> None:
    tree = ast.parse(content)  # compiles
    compile(content, "<generated>", "exec")
    assert [type(s).__name__ for s in tree.body] == ["Expr", "ImportFrom", "ImportFrom", "Assign", "Assign",
                                                     "ClassDef"]
    assert [(s.module, [a.name for a in s.names]) for s in tree.body[1:3]] == [
        ("hwcov.cases.case", ["ArchCase"]), ("hwcov.cases.testing", ["ArchCaseTests"])]
    assert [t.id for s in tree.body[3:5] for t in s.targets] == ["CASE", "PRECISIONS"]
    cls = tree.body[5]
    assert re.fullmatch(r"Test[A-Za-z0-9_]+", cls.name) and all(isinstance(s, ast.Assign) for s in cls.body)
    assert MARK not in _names(tree)
    case = {k.arg: ast.literal_eval(k.value) for k in tree.body[3].value.keywords}
    for key, value in expect.items():
        assert case[key] == value, key


def test_inventory_and_template_data_reach_generated_code_only_as_literals(archs, monkeypatch):
    base = archs["t5"]
    for s in STRINGS:
        monkeypatch.setattr(generate.tiny, "overrides_for", lambda *_, s=s: {"d_model": 8, s: [s, {s: s}]})
        monkeypatch.setattr(generate.inputs, "spec_for", lambda *_, s=s: {"kind": s, "extra": {s: 1}})
        monkeypatch.setattr(generate.tiny, "skip_reason", lambda *_, s=s: s)
        arch = dataclasses.replace(base, family=s, category=s, base_class=s, modality=s)
        content, chain = generate.render(arch)
        assert chain == "base.py.j2" or MARK not in chain
        _check_generated(content, {"family": s, "category": s, "model_class": s, "modality": s, "skip_reason": s,
                                   "config_overrides": {"d_model": 8, s: [s, {s: s}]},
                                   "input_spec": {"kind": s, "extra": {s: 1}}})
        assert ast.get_docstring(ast.parse(content), clean=False).count(s) >= 3


def test_model_types_that_are_not_names_are_refused(archs):
    for s in STRINGS:
        if NAME_RE.match(s):
            _check_generated(generate.render(dataclasses.replace(archs["bert"], model_type=s))[0], {"model_type": s})
        else:
            with pytest.raises(ValueError):
                generate.render(dataclasses.replace(archs["bert"], model_type=s))


def test_repro_scripts_hold_stored_values_only_as_literals():
    for s in STRINGS:
        tree = ast.parse(diagnostics.repro_script(s, s, s, s))
        assert MARK not in _names(tree)
        assigned = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
        assert assigned == {"MODEL_TYPE": s, "MODEL_CLASS": s, "HARDWARE": s, "STATUS": s}


def test_file_names_from_stored_values_stay_inside_the_output_folder(tmp_path):
    root = tmp_path.resolve()
    names = set()
    for s in STRINGS:
        for name in (dashboard.page_name(s), verbs_results.safe_name(s) + ".json",
                     diagnostics.folder(tmp_path, s, s).name, diagnostics.folder(tmp_path, "bert", s).name):
            assert "/" not in name and "\\" not in name and "\x00" not in name and name not in (".", "..")
            assert not name.startswith(".") and len(name.encode()) < 255
            assert (tmp_path / name).resolve().parent == root
        names.add(dashboard.page_name(s))
    assert len(names) == len(STRINGS)  # no two stored values share a page


def test_csv_cells_never_start_a_formula_or_a_row():
    df = pd.DataFrame({"error_message": STRINGS, "max_abs_diff": [-1.5] * len(STRINGS)})
    buf = io.StringIO()
    verbs_results.csv_safe(df).to_csv(buf, index=False, lineterminator="\r\n")
    rows = list(csv.DictReader(io.StringIO(buf.getvalue(), newline="")))
    assert len(rows) == len(STRINGS) and {r["max_abs_diff"] for r in rows} == {"-1.5"}
    for s, row in zip(STRINGS, rows):
        cell = row["error_message"]
        assert not cell.startswith(verbs_results.FORMULA_START)
        assert cell == ("'" + s if s.startswith(verbs_results.FORMULA_START) else s)


def test_dashboard_pages_stay_inside_the_output_folder_and_escape_markup(tmp_path):
    chosen = STRINGS[::4]
    rows = [{"model_type": s, "category": "text", "family": s, "hardware": "cpu", "precision": "fp32",
             "batch_size": 1, "status": "fail_to_run", "error_message": s, "error_pattern": "unclassified",
             "device_name": s} for s in chosen]
    inventory = pd.DataFrame([{"model_type": s, "category": "text", "family": s, "priority": 1} for s in chosen])
    out = tmp_path / "out" / "site"
    dashboard.write(inventory, conform(rows), pd.DataFrame(), out)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in files)
    pages = {p.name for p in (out / "models").iterdir()}
    assert pages <= {dashboard.page_name(s) for s in chosen} and len(pages) > len(chosen) * 0.9
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert f"<script>{MARK}" not in text, page
        scripts = re.findall(r"<script[^>]*>", text)
        assert all(t == "<script>" or "src=" in t or 'type="text/javascript"' in t for t in scripts), scripts


def test_no_name_pattern_lets_a_trailing_newline_through():
    """The class behind 'cpu\\n' passing as a hardware key: `$` also matches before a final newline, so a pattern
    anchored with ^...$ and used with .match accepts a name that then splits a generated line or a file name. No
    pattern in the package ends in a bare `$` (\\Z ends the string); each name validator refuses 'name\\n'."""
    from pathlib import Path

    import hwcov
    from hwcov.backends.platforms import KEY_RE
    from hwcov.core.schedule_config import NAME_RE as SCHEDULE_NAME_RE
    from hwcov.models.checkpoints import HUB_ID
    from hwcov.resources.lease import lock_path

    offenders = []
    for path in Path(hwcov.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("compile", "match", "search")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                    and node.args[0].value.endswith("$") and len(node.args) < 2 + (node.func.attr != "compile")):
                offenders.append(f"{path.name}:{node.lineno} {node.args[0].value}")
    assert not offenders, offenders
    for pattern, name in ((NAME_RE, "bert"), (KEY_RE, "cpu_small"), (SCHEDULE_NAME_RE, "nightly"),
                          (HUB_ID, "org/model")):
        assert pattern.match(name) and not pattern.match(name + "\n"), pattern.pattern
    for refuse in (lambda: generate.filename("bert\n"), lambda: generate.checkpoint_test_path(Path("/tmp"), "x\n"),
                   lambda: lock_path(Path("/tmp"), "cpu\n")):
        with pytest.raises(ValueError):
            refuse()
