"""The house's rules, checked on the code itself (ARCHITECTURE.md): layers, no cycles, no reaching into another
module's private names, files a reader takes in at once. Each rule reads hwcov's real source; none is a stub."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
# Dagster's private API is used in one place only (run tags of a single-run backfill, the instance).
DAGSTER_PRIVATE_ALLOWED = ("hwcov/orchestration/",)


def engine_files() -> dict[str, Path]:
    """hwcov's modules by dotted name (assets/ and resources/ under their hwcov.* names, as the code imports them)."""
    files = {}
    for folder, prefix in ((ROOT / "hwcov", "hwcov"), (ROOT / "assets", "hwcov.assets"),
                           (ROOT / "resources", "hwcov.resources")):
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder)
            if rel.parts[0] in ("assets", "resources", "templates", "web") and folder.name == "hwcov":
                continue  # the symlinks: read once, from the real folders
            parts = [prefix, *rel.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def imports_of(module: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import statement, function-level ones included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.append((base, [a.name for a in node.names], node.lineno))
    return found


def internal_graph() -> dict[str, set[str]]:
    files = engine_files()
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for target, names, _ in imports_of(module, path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in files and candidate != module:
                    graph[module].add(candidate)
                    break
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_among_hwcov_modules():
    """Function-level imports count too: a cycle dodged by importing inside a function is still a cycle."""
    graph = internal_graph()
    assert "hwcov.run.sweep" in graph and graph["hwcov.run.sweep"], "the graph reader found no imports"
    assert cycles(graph) == []


def test_cycle_finder_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def private_name_uses() -> list[str]:
    """`from x import _y`, `import x` then `x._y`, and `from x import y` then `y._z` where x is another hwcov
    module (or dagster's private `_core`, outside orchestration)."""
    files = engine_files()
    bad = []
    for module, path in files.items():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> hwcov module it names
        for target, names, line in imports_of(module, path):
            if target.startswith("dagster._core") and not rel.startswith(DAGSTER_PRIVATE_ALLOWED):
                bad.append(f"{rel}:{line} imports {target}")
            for name in names:
                if f"{target}.{name}" in files:
                    continue
                if target in files and target != module and name.startswith("_") and not name.startswith("__"):
                    bad.append(f"{rel}:{line} from {target} import {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if full in files:
                        aliases[a.asname or a.name] = full
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in files and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and aliases[node.value.id] != module \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{rel}:{node.lineno} {aliases[node.value.id]}.{node.attr}")
    return sorted(set(bad))


def private_defs(tree) -> set[str]:
    """Private names a module defines: functions, classes, methods, attributes set on self, module globals."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_member_uses() -> list[str]:
    """`obj._name` where `_name` is private to another hwcov module (an object of another module's class, called
    from outside it: `inner._export(...)`), not defined here, and obj is not self/cls."""
    files = engine_files()
    trees = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in files.items()}
    defined = {m: private_defs(t) for m, t in trees.items()}
    bad = []
    for module, tree in trees.items():
        others = set().union(*(d for m, d in defined.items() if m != module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in others and node.attr not in defined[module] \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                bad.append(f"{files[module].relative_to(ROOT).as_posix()}:{node.lineno} .{node.attr}")
    return sorted(set(bad))


def test_no_module_reaches_into_another_modules_private_names():
    assert private_name_uses() == []
    assert private_member_uses() == []


def test_private_name_check_catches_each_form(tmp_path, monkeypatch):
    """The checks above, run on a two-module package written here: each form of reaching in is reported."""
    pkg = tmp_path / "hwcov"
    pkg.mkdir()
    (pkg / "a.py").write_text("_secret = 1\nclass A:\n    def _hidden(self):\n        return 1\n")
    (pkg / "b.py").write_text("from hwcov import a\nfrom hwcov.a import _secret\n\ndef f(obj):\n"
                              "    return a._secret, obj._hidden()\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert private_name_uses() == ["hwcov/b.py:2 from hwcov.a import _secret", "hwcov/b.py:5 hwcov.a._secret"]
    assert private_member_uses() == ["hwcov/b.py:5 ._hidden", "hwcov/b.py:5 ._secret"]


def test_long_files():
    """A module a reader takes in at once: at most 400 lines."""
    long = {str(p.relative_to(ROOT)): n for p in engine_files().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (Path(sys.prefix) / "bin" / "lint-imports").exists(),
                    reason="import-linter is not installed (pip install -e '.[test]')")
def test_import_linter_contracts_hold():
    """The layers, 'the engine never imports dagster' and 'nothing imports the cli' (pyproject.toml)."""
    exe = shutil.which("lint-imports") or str(Path(sys.prefix) / "bin" / "lint-imports")
    done = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
