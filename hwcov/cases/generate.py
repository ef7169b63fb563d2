"""Render templates/tests into one pytest file per architecture.

select_template picks the most specific template (family → modality → base); each
extends the next, and hardware snippets are included per hardware key. Data reaches
the code only through a filter: `pyliteral` (plain JSON-like values, rendered with repr),
`pytext` (docstring and comment text, escaped so it can neither close the docstring nor
start a line) or `pyident` (identifier parts, validated); the environment's finalize
refuses any other output. A file is rewritten only when its content changes, through a
temp file of its own (two writers at once never share one).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import pprint
import re
import tempfile
from dataclasses import asdict
from pathlib import Path

import jinja2

from hwcov.backends.registry import HARDWARE, get_backend, precisions
from hwcov.cases.case import ArchCase
from hwcov.core.paths import templates_dir
from hwcov.export import generation
from hwcov.models import inputs, tiny
from hwcov.models.checkpoints import Checkpoint
from hwcov.models.inventory import NAME_RE, Architecture

_LITERAL_TYPES = (str, int, float, bool, type(None))
_IDENT_RE = re.compile(r"[A-Za-z0-9_]+")
_TEMPLATE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a family or modality that may name a template


class _Code(str):
    """Text a filter made safe to stand in generated Python code."""


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
    return _Code(text.replace("\n", "\n    "))


def pytext(value) -> str:
    """Docstring or comment text: plain printable text as it is; a backslash, a double quote and every
    non-printable character (newline, CR, NUL, line separators) escaped, so it can't end the docstring or the
    comment, and the docstring's value is the original text."""
    if not isinstance(value, (str, int)):
        raise ValueError(f"{type(value).__name__} cannot be rendered as text")
    out = []
    for ch in str(value):
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return _Code("".join(out))


def pyident(value) -> str:
    """Part of an identifier (a class name's stem): letters, digits and underscores only, or ValueError."""
    if not isinstance(value, str) or not _IDENT_RE.fullmatch(value):
        raise ValueError(f"refusing {value!r} as part of an identifier: must match {_IDENT_RE.pattern}")
    return _Code(value)


def _only_filtered(value):
    if isinstance(value, _Code):
        return value
    raise ValueError(f"template output {str(value)[:60]!r} reached the code without a filter "
                     "(pyliteral, pytext or pyident)")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir() / "tests"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False, finalize=_only_filtered)
    env.filters.update(pyliteral=pyliteral, pytext=pytext, pyident=pyident)
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


def _template_name(kind: str, name) -> str | None:
    """`<kind>/<name>.py.j2`, or None where the name can't be a template's (no path from the data)."""
    return f"{kind}/{name}.py.j2" if isinstance(name, str) and _TEMPLATE_NAME_RE.fullmatch(name) else None


def render(arch: Architecture, env: jinja2.Environment | None = None, case: ArchCase | None = None,
           name: str = "") -> tuple[str, str]:
    """(file content, template chain) for one architecture (or a checkpoint's case of it, written as `name`)."""
    env = env or _environment()
    case = case or case_for(arch)
    declared = {hw: precisions(hw) for hw in HARDWARE}
    if case.checkpoint:  # "does my model run at fp16": torch runs every precision it has, on cpu too
        declared["cpu"] = get_backend("cpu").precisions()
    family, modality = _template_name("family", arch.family), _template_name("modality", arch.modality)
    candidates = [c for c in (family, modality) if c] + ["base.py.j2"]
    template = env.select_template(candidates)
    chain = " -> ".join(candidates[candidates.index(template.name):])
    stem = re.sub(r"[^0-9a-zA-Z]+", " ", Path(name).stem.removeprefix("test_") if name else arch.model_type)
    stem = stem.title().replace(" ", "")
    content = template.render(
        arch={**asdict(case), "class_stem": stem}, hardware=HARDWARE, filename=name or filename(arch.model_type),
        precisions=declared, template_chain=chain, modes=modes(case),
        modality_template=env.select_template([c for c in (modality, "base.py.j2") if c]),
    )
    return content, chain


def modes(case: ArchCase) -> tuple[str, ...]:
    """What the generated test checks on an exported runtime beyond one forward (issue #25): other shapes for every
    architecture, greedy generation with a KV cache where it has a
    generative head (causal-LM, else seq2seq). A checkpoint's case: its forward."""
    if case.checkpoint:
        return ("forward",)
    return ("forward", "dynamic") + (("generate",) if generation.lm_class(case.model_type) else ())


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
            _write_atomically(path, content)
        rows.append({"model_type": arch.model_type, "category": arch.category, "family": arch.family,
                     "priority": arch.priority, "path": str(path), "template_chain": chain, "content_hash": content_hash(content),
                     "rewritten": written})
    return rows


def checkpoint_arch(ck: Checkpoint) -> Architecture:
    """The inventory's row for the checkpoint's model type (category, family, modality: its templates); a model type
    only remote code knows gets a row of its own."""
    from hwcov.models import inventory

    found = {a.model_type: a for a in inventory.discover()}.get(ck.model_type)
    return found or Architecture(ck.model_type, "", ck.model_class or "AutoModel", (), "other", "text",
                                 "remote-code", 9)


def checkpoint_case(ck: Checkpoint, arch: Architecture) -> ArchCase:
    """A checkpoint's case: its own config and weights (no tiny overrides), its class (config.architectures)."""
    import transformers

    model_class = ck.model_class if getattr(transformers, ck.model_class or "-", None) is not None or \
        ck.trust_remote_code else (arch.base_class or arch.head_classes[0])
    return ArchCase(model_type=ck.model_type, model_class=model_class or "AutoModel", category=arch.category,
                    family=arch.family, modality=arch.modality, input_spec=inputs.spec_for(ck.model_type, arch.family),
                    skip_reason=tiny.skip_reason(ck.model_type), checkpoint=ck.case_field())


SLUG_RE = re.compile(r"[a-z0-9_]{1,60}")  # Checkpoint.slug(): a stored one is checked before it names a file


def checkpoint_test_path(out_dir: Path, slug: str) -> Path:
    """Where a checkpoint's generated test lives; ValueError for a slug that is no Checkpoint.slug()."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ValueError(f"refusing checkpoint slug {str(slug)[:80]!r}: must match {SLUG_RE.pattern}")
    return Path(out_dir) / "checkpoints" / f"test_ckpt_{slug}.py"


def generate_checkpoints(checkpoints: list[Checkpoint], out_dir: Path) -> list[dict]:
    """One test file per checkpoint under <out_dir>/checkpoints (test_ckpt_<slug>.py), written when changed."""
    (Path(out_dir) / "checkpoints").mkdir(parents=True, exist_ok=True)
    env, rows = _environment(), []
    for ck in checkpoints:
        arch = checkpoint_arch(ck)
        path = checkpoint_test_path(out_dir, ck.slug())
        content, chain = render(arch, env, checkpoint_case(ck, arch), path.name)
        written = not path.exists() or path.read_text(encoding="utf-8") != content
        if written:
            _write_atomically(path, content)
        rows.append({"model_type": ck.model_type, "checkpoint": ck.key, "category": arch.category,
                     "family": arch.family, "path": str(path), "template_chain": chain,
                     "content_hash": content_hash(content), "rewritten": written})
    return rows


def _write_atomically(path: Path, content: str) -> None:
    """A temp file of this writer's own in the same folder, then os.replace: a reader sees the old file or the
    new one, and two processes writing at once never move each other's half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fingerprint() -> str:
    """What the inventory and generated tests depend on: transformers, templates, hwcov, destinations.
    Unchanged fingerprint: regenerating would rewrite nothing."""
    from importlib.metadata import version

    from hwcov.core import data, paths

    templates = sorted(p for p in templates_dir().rglob("*") if p.is_file())
    data.check(*templates)  # an unusable template (a YAML tag, bad syntax) is a ConfigError before any run
    parts = [version("transformers"), version("hwcov"), data.file_digest(*templates), str(paths.db_path()),
             str(paths.generated_dir()), repr({hw: precisions(hw) for hw in HARDWARE}), paths.code_digest("cases")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
