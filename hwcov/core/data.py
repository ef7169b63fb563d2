"""Load the per-architecture data under templates/ (YAML), cached per process."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from hwcov.core.paths import templates_dir


def load(name: str) -> dict:
    return _load(str(templates_dir()), name)


def clear_cache() -> None:
    """Forget every file read so far: the next load() reads the templates as they are now on disk."""
    _load.cache_clear()


@functools.cache
def _load(folder: str, name: str) -> dict:
    """`name` plus the drop-in files of `<stem>.d/*.yaml` beside it (one per family group, so groups of
    overrides stay small and separately owned); an entry defined twice is an error, not a silent win.
    A drop-in that declares `applies_to: {transformers: "<5"}` is a version patch: read only when the
    installed transformers matches, and its entries merge over the ones it patches."""
    path = Path(folder) / name
    with open(path, encoding="utf-8") as fh:
        out = yaml.safe_load(fh) or {}
    for extra in sorted(path.with_suffix(".d").glob("*.yaml")):
        with open(extra, encoding="utf-8") as fh:
            more = yaml.safe_load(fh) or {}
        applies_to = more.pop("applies_to", None)
        if applies_to is not None:
            if _matches(applies_to, extra):
                for section, entries in more.items():
                    have = out.setdefault(section, {})
                    for key, entry in (entries or {}).items():
                        have[key] = deep_merge(have.get(key), entry)
            continue
        for section, entries in more.items():
            have = out.setdefault(section, {})
            if not isinstance(entries, dict) or not isinstance(have, dict):
                raise ValueError(f"{extra}: top-level {section!r} must be a mapping")
            twice = sorted(set(have) & set(entries))
            if twice:
                raise ValueError(f"{extra}: {section} {', '.join(twice)} already defined in {name} or an earlier drop-in")
            have.update(entries)
    return out


def _matches(applies_to: dict, where: Path) -> bool:
    from importlib.metadata import version

    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return all(version(pkg) in SpecifierSet(spec) for pkg, spec in applies_to.items())
    except (InvalidSpecifier, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: applies_to must map a package to a version specifier such as "
                         f"{{transformers: '<5'}}: {exc}") from exc


def deep_merge(base, over, ignore: tuple[str, ...] = ()):
    """`over` on top of `base`: mappings merge key by key at every depth, anything else in `over` wins.

    Keys named in `ignore` are left out of `over` at every depth (the tiny overrides' `why:` notes document an
    entry; they are not config). New dicts are built; leaf values are shared, not copied."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: deep_merge(base.get(k), v, ignore) for k, v in over.items() if k not in ignore}}
    return over


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(templates_dir())).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
