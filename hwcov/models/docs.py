"""Model classes as the transformers documentation describes them, for the seed guide's docs workflow.

With a docs build (`--docs-path`: the folder holding model_doc/<type>.md, or model_doc itself) a model type's
documented classes are its page's `[[autodoc]] Class` lines. Without one (none is built here, and the installed
package ships no model_doc pages) they are the model classes of the installed transformers that carry a docstring;
`source()` says which was used, so no output passes one off as the other.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

AUTODOC = re.compile(r"^\s*\[\[autodoc\]\]\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def pages_dir(docs_path: str | None) -> Path | None:
    """The folder of model pages in a docs build, or None when there is none there."""
    if not docs_path:
        return None
    root = Path(docs_path)
    for candidate in (root / "model_doc", root):
        if candidate.is_dir() and any(candidate.glob("*.md")):
            return candidate
    return None


def source(docs_path: str | None) -> str:
    import transformers

    pages = pages_dir(docs_path)
    if pages is not None:
        return f"the docs build at {pages} ({len(list(pages.glob('*.md')))} model pages)"
    where = f"no docs build at {docs_path}" if docs_path else "no --docs-path given"
    return (f"{where}; used the docstrings of the installed transformers {transformers.__version__} (the package "
            "ships no model_doc pages)")


def summary(text: str | None) -> str:
    words = " ".join((text or "").split())
    return words.split(". ")[0][:200]


def model_classes(archs, docs_path: str | None) -> list[dict]:
    """Per architecture of the inventory: its model classes as documented, and a one-line summary."""
    import transformers

    pages = pages_dir(docs_path)
    rows = []
    for arch in archs:
        classes = tuple(c for c in (arch.base_class, *arch.head_classes) if c)
        if pages is not None:
            page = pages / f"{arch.model_type.replace('-', '_')}.md"
            documented = AUTODOC.findall(page.read_text(encoding="utf-8")) if page.is_file() else []
            text = page.read_text(encoding="utf-8") if page.is_file() else ""
        else:
            documented, text = [], ""
            for name in classes:
                try:
                    doc = getattr(transformers, name).__doc__
                except (ImportError, AttributeError):  # an optional dependency missing: not documented here
                    continue
                if doc and doc.strip():
                    documented.append(name)
                    text = text or doc
        rows.append({"model_type": arch.model_type, "config_class": arch.config_class,
                     "documented_classes": documented, "summary": summary(text)})
    return rows


def generated_case(path: Path) -> dict | None:
    """The literal keywords of a generated test's `CASE = ArchCase(...)` (read, never imported), or None."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CASE" for t in node.targets) \
                and isinstance(node.value, ast.Call):
            out = {}
            for kw in node.value.keywords:
                try:
                    out[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue
            return out
    return None


def check_tests(tests_path: Path, documented: dict[str, list[str]]) -> list[dict]:
    """Each generated test in the folder against the documentation: its model type documented, and the model
    class it builds among that type's documented classes."""
    rows = []
    for path in sorted(Path(tests_path).glob("test_hf_*.py")):
        case = generated_case(path)
        if case is None:
            rows.append({"test": path.name, "model_type": "", "model_class": "", "verdict": "not a generated test"})
            continue
        mt, cls = case.get("model_type", ""), case.get("model_class", "")
        verdict = ("model type not documented" if mt not in documented else
                   "ok" if cls in documented[mt] else f"{cls} not among the documented {', '.join(documented[mt])}")
        rows.append({"test": path.name, "model_type": mt, "model_class": cls, "verdict": verdict})
    return rows
