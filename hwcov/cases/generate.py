"""Render templates/tests into one pytest file per architecture.

select_template picks the most specific template (family → modality → base); each
extends the next, and hardware snippets are included per hardware key. Data reaches
the code only through the `pyliteral` filter, which accepts plain JSON-like values and
renders them with repr. A file is rewritten only when its content changes.
"""
from __future__ import annotations

import hashlib
import pprint
import re
from dataclasses import asdict
from pathlib import Path

import jinja2

from hwcov.backends.registry import HARDWARE, precisions
from hwcov.cases.case import ArchCase
from hwcov.core.paths import templates_dir
from hwcov.models import inputs, tiny
from hwcov.models.inventory import NAME_RE, Architecture

_LITERAL_TYPES = (str, int, float, bool, type(None))


def _check_literal(value, where="value"):
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: key {k!r} is not a string")
            _check_literal(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_literal(v, f"{where}[{i}]")
    elif not isinstance(value, _LITERAL_TYPES):
        raise ValueError(f"{where}: {type(value).__name__} cannot be rendered as a literal")


def pyliteral(value) -> str:
    _check_literal(value)
    text = pprint.pformat(value, width=100, sort_dicts=True)
    return text.replace("\n", "\n    ")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir() / "tests"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["pyliteral"] = pyliteral
    return env


def case_for(arch: Architecture, hardware: str = "all") -> ArchCase:
    return ArchCase(
        model_type=arch.model_type,
        model_class=arch.base_class or arch.head_classes[0],
        category=arch.category, family=arch.family, modality=arch.modality,
        config_overrides=tiny.overrides_for(arch.model_type, arch.family),
        input_spec=inputs.spec_for(arch.model_type, arch.family),
        skip_reason=tiny.skip_reason(arch.model_type, hardware),
    )


def filename(model_type: str) -> str:
    if not NAME_RE.match(model_type):
        raise ValueError(f"refusing model type {model_type!r}: must match {NAME_RE.pattern}")
    return f"test_hf_{re.sub(r'[^a-z0-9_]', '_', model_type)}.py"


def render(arch: Architecture, env: jinja2.Environment | None = None) -> tuple[str, str]:
    """(file content, template chain) for one architecture."""
    env = env or _environment()
    case = case_for(arch)
    candidates = [f"family/{arch.family}.py.j2", f"modality/{arch.modality}.py.j2", "base.py.j2"]
    template = env.select_template(candidates)
    chain = " -> ".join(candidates[candidates.index(template.name):])
    stem = re.sub(r"[^0-9a-zA-Z]+", " ", arch.model_type).title().replace(" ", "")
    content = template.render(
        arch={**asdict(case), "class_stem": stem}, hardware=HARDWARE, filename=filename(arch.model_type),
        precisions={hw: precisions(hw) for hw in HARDWARE},
        template_chain=chain, modality_template=env.select_template([f"modality/{arch.modality}.py.j2", "base.py.j2"]),
    )
    return content, chain


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def generate(archs: list[Architecture], out_dir: Path) -> list[dict]:
    """Write changed files only; return one row per architecture."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    rows, seen = [], {}
    for arch in archs:
        content, chain = render(arch, env)
        path = out_dir / filename(arch.model_type)
        if seen.setdefault(path.name, arch.model_type) != arch.model_type:
            raise ValueError(f"{arch.model_type} and {seen[path.name]} both map to {path.name}")
        written = not path.exists() or path.read_text(encoding="utf-8") != content
        if written:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(content, encoding="utf-8")
            tmp.replace(path)
        rows.append({"model_type": arch.model_type, "category": arch.category, "family": arch.family,
                     "priority": arch.priority, "path": str(path), "template_chain": chain, "content_hash": content_hash(content),
                     "rewritten": written})
    return rows


def fingerprint() -> str:
    """What the inventory and generated tests depend on: transformers, templates, hwcov, destinations.
    Unchanged fingerprint: regenerating would rewrite nothing."""
    from importlib.metadata import version

    from hwcov.core import data, paths

    templates = sorted(p for p in templates_dir().rglob("*") if p.is_file())
    parts = [version("transformers"), version("hwcov"), data.file_digest(*templates), str(paths.db_path()),
             str(paths.generated_dir()), repr({hw: precisions(hw) for hw in HARDWARE}), paths.code_digest("cases")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
