"""Load the per-architecture data under templates/ (YAML), cached per process.

The cache is checked against the files: a sweep's fork server reads what every case reads once (~120 ms of parsing
a case), and a case forked from it later (a long-lived Dagster code server's) calls forget_changed() first, so a
template edited since is read again rather than served as it was."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from hwcov.core.errors import ConfigError
from hwcov.core.paths import templates_dir


# libyaml's parser where PyYAML was built with it: the same safe constructors and events, ~10x faster (the templates
# are read by every hwcov process and fingerprinted on every run)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(name: str) -> dict:
    return _load(str(templates_dir()), name)


def clear_cache() -> None:
    """Forget every file read so far: the next load() reads the templates as they are now on disk."""
    _load.cache_clear()
    _READ.clear()


def reads() -> int:
    """How many template files this process has parsed through load() (a case forked from a primed server: none)."""
    return _load.cache_info().misses


def forget_changed() -> bool:
    """clear_cache() when a file load() read has changed since, or a drop-in came or went (a stat per file);
    True when it did."""
    if any(_stamps(folder, name) != stamps for (folder, name), stamps in list(_READ.items())):
        clear_cache()
        return True
    return False


_READ: dict[tuple[str, str], tuple] = {}  # (folder, name) -> its files' stamps when _load read them


def _stamps(folder: str, name: str) -> tuple:
    """(path, mtime_ns, size) of `name` and of each drop-in beside it."""
    path = Path(folder) / name
    stamps = []
    for p in (path, *sorted(path.with_suffix(".d").glob("*.yaml"))):
        try:
            st = p.stat()
            stamps.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append((str(p), None, None))
    return tuple(stamps)


@functools.cache
def _load(folder: str, name: str) -> dict:
    """`name` plus the drop-in files of `<stem>.d/*.yaml` beside it (one per family group, so groups of
    overrides stay small and separately owned); an entry defined twice is an error, not a silent win.
    A drop-in that declares `applies_to: {transformers: "<5"}` is a version patch: read only when the
    installed transformers matches, and its entries merge over the ones it patches."""
    path = Path(folder) / name
    _READ[(folder, name)] = _stamps(folder, name)  # before reading: an edit while it reads is seen next time
    out = read_yaml(path)
    for extra in sorted(path.with_suffix(".d").glob("*.yaml")):
        more = read_yaml(extra)
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


def read_yaml(path: Path) -> dict:
    """One YAML file as plain data. An explicit tag (`!!python/object`, `!!str`, `!custom`) or a syntax error is a
    ConfigError naming the file, the line and the key: template data is never constructed into objects."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        _refuse_tags(text, path)
        return yaml.load(text, Loader=_LOADER) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}: line {mark.line + 1 if mark else '?'}: not valid YAML: {problem}") from None


def check(*paths: Path) -> None:
    """Read every YAML file among `paths` (ConfigError on the first unusable one), before anything runs."""
    for p in paths:
        if p.suffix == ".yaml":
            stat = p.stat()
            key = (str(p), stat.st_mtime_ns, stat.st_size)
            if key not in _CHECKED:
                read_yaml(p)
                _CHECKED.add(key)


_CHECKED: set[tuple[str, int, int]] = set()  # files check() found usable, as they were then


def _refuse_tags(text: str, path) -> None:
    stack = [{"label": None, "map": False, "want_key": False, "key": "?", "index": -1}]
    for event in yaml.parse(text, Loader=_LOADER):
        top = stack[-1]
        if isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            if top["map"]:
                label = None if top["want_key"] else top["key"]
            else:
                top["index"] += 1
                label = top["index"] if len(stack) > 1 else None
            if getattr(event, "tag", None) is not None:
                where = ".".join(str(f["label"]) for f in stack[1:] if f["label"] is not None)
                where = ".".join(filter(None, [where, "" if label is None else str(label)])) or "top level"
                tag = " ".join(str(event.tag).split())[:80]
                raise ConfigError(f"{path}: line {event.start_mark.line + 1} ({where}): YAML tags are not allowed "
                                  f"(found {tag!r}); write a plain value")
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append({"label": label, "map": isinstance(event, yaml.MappingStartEvent), "want_key": True,
                              "key": "?", "index": -1})
            else:
                _consumed(top, getattr(event, "value", "?"))
        elif isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            _consumed(stack[-1], "?")


def _consumed(frame: dict, value) -> None:
    if frame["map"]:
        if frame["want_key"]:
            frame["key"] = " ".join(str(value).split())[:80]
        frame["want_key"] = not frame["want_key"]


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
