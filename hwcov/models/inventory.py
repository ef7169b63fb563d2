"""Every model type of the installed transformers that has a model class, classified.

Read from transformers' own auto mappings; the classification rules are data in
templates/inventory.yaml, so nothing here names a model.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

from hwcov.core import data

CATEGORIES = (
    "text-encoder", "text-decoder", "encoder-decoder", "vision", "audio", "vision-language",
    "multimodal", "video", "speech-text", "time-series", "other",
)
CACHE_FORMAT = 2  # bump when Architecture's fields change
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*\Z")  # model types like kosmos-2.5


@dataclass(frozen=True)
class Architecture:
    model_type: str
    config_class: str
    base_class: str
    head_classes: tuple[str, ...]
    category: str
    modality: str
    family: str
    priority: int
    tasks: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: dict) -> Architecture:
        """Inverse of row(): rebuild from a stored inventory row without rediscovering."""
        fields = {k: row[k] for k in cls.__dataclass_fields__}
        fields["head_classes"] = tuple(filter(None, str(row["head_classes"]).split(",")))
        fields["tasks"] = tuple(filter(None, str(row["tasks"]).split(",")))
        fields["priority"] = int(row["priority"])
        return cls(**fields)

    def row(self) -> dict:
        d = asdict(self)
        d["head_classes"] = ",".join(self.head_classes)
        d["tasks"] = ",".join(self.tasks)
        return d


def _class_names(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _mappings() -> dict[str, dict[str, tuple[str, ...]]]:
    from transformers.models.auto import modeling_auto

    out = {}
    for name in dir(modeling_auto):
        if name.startswith("MODEL") and name.endswith("_MAPPING_NAMES"):
            mapping = getattr(modeling_auto, name)
            if isinstance(mapping, dict):
                out[name] = {k: _class_names(v) for k, v in mapping.items()}
    return out


def _tasks_by_type() -> dict[str, tuple[str, ...]]:
    """Pipeline task names per model type, from optimum's task -> auto-class table joined with
    transformers' auto mappings. AutoModel stands behind several tasks; only feature-extraction keeps it."""
    import transformers
    from optimum.exporters.tasks import TasksManager

    out: dict[str, set] = {}
    for task, loaders in TasksManager._TRANSFORMERS_TASKS_TO_MODEL_LOADERS.items():
        for loader in loaders if isinstance(loaders, tuple) else (loaders,):
            if loader == "AutoModel" and task != "feature-extraction":
                continue
            auto = getattr(transformers, loader, None)
            for model_type in getattr(getattr(auto, "_model_mapping", None), "_model_mapping", {}):
                out.setdefault(model_type, set()).add(task)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _first_rule(model_type: str, rules: list[dict], key: str, mappings: dict, non_text: bool = True) -> str | None:
    for rule in rules:
        if model_type in mappings.get(rule["mapping"], {}) and (non_text or not rule.get("non_text")):
            return rule[key]
    return None


def _takes_non_text(class_name: str, pattern: str) -> bool:
    import re

    return any(re.search(pattern, name) for name in forward_inputs(class_name))


def forward_inputs(class_name: str) -> tuple[str, ...]:
    """The argument names of a model class's forward(); empty if the class can't import."""
    import inspect

    import transformers

    try:
        forward = getattr(transformers, class_name).forward
    except (ImportError, AttributeError):  # optional dependency missing or class not exported
        return ()
    return tuple(p for p in inspect.signature(forward).parameters if p != "self")


def _signature_category(class_name: str, rules: list[dict]) -> str:
    accepted = set(forward_inputs(class_name))
    for rule in rules:
        if set(rule.get("all", ())) <= accepted and (not rule.get("any") or accepted & set(rule["any"])):
            return rule["category"]
    return "other"


def model_types() -> set[str]:
    """Model types with a model class, for validating user input: read from a file kept per transformers version
    (transformers' auto mappings import torch: seconds, on every command that names a model)."""
    import json
    from importlib.metadata import version

    from hwcov.core import paths

    cache = paths.artifacts_dir() / "inventory" / f"model-types-{version('transformers')}.json"
    try:
        return set(json.loads(cache.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    found = {t for m in _mappings().values() for t in m}
    try:  # only inside an artifacts folder a run made: a mistyped --db-path must not get one made for it
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted(found)), encoding="utf-8")
        tmp.replace(cache)
    except OSError:  # no artifacts folder yet, or a read-only one: the answer stands, uncached
        pass
    return found


def discover() -> list[Architecture]:
    """Classified architectures, cached on disk per (transformers version, classification rules):
    signature inspection imports ~130 modeling modules, which costs seconds on every run otherwise."""
    import json

    import transformers

    from hwcov.core import paths

    rules = data.file_digest(paths.templates_dir() / "inventory.yaml")
    cache = paths.artifacts_dir() / "inventory" / f"{transformers.__version__}-{rules}-v{CACHE_FORMAT}.json"
    if cache.exists():
        return [Architecture.from_row(r) for r in json.loads(cache.read_text(encoding="utf-8"))]
    archs = _discover()
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps([a.row() for a in archs]), encoding="utf-8")
    tmp.replace(cache)
    return archs


def _discover() -> list[Architecture]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    spec = data.load("inventory.yaml")
    mappings = _mappings()
    base = mappings["MODEL_MAPPING_NAMES"]
    phases = spec["priority"]
    tasks = _tasks_by_type()
    only = set(spec.get("only_model_types") or ())
    archs = []
    for model_type, config_class in sorted(CONFIG_MAPPING_NAMES.items()):
        if only and model_type not in only:
            continue
        heads = sorted({c for name, m in mappings.items() if name != "MODEL_MAPPING_NAMES"
                        for c in m.get(model_type, ())})
        if model_type not in base and not heads:
            continue  # a config without any model class (tokenizer-only, sub-configs …)
        base_classes = base.get(model_type, ())
        non_text = _takes_non_text((base_classes + tuple(heads))[0], spec["non_text_inputs"])
        category = (_first_rule(model_type, spec["category_rules"], "category", mappings, non_text)
                    or _signature_category((base_classes + tuple(heads))[0], spec["signature_rules"]))
        family = _first_rule(model_type, spec["family_rules"], "family", mappings, non_text) or category
        if model_type in phases["phase1_model_types"]:
            priority = 1
        elif model_type in phases["phase2_model_types"]:
            priority = 2
        else:
            priority = phases["by_category"][category]
        archs.append(Architecture(
            model_type=model_type,
            config_class=config_class,
            base_class=base_classes[0] if base_classes else "",
            head_classes=tuple(heads),
            category=category,
            modality=spec["modality"][category],
            family=family,
            priority=priority,
            tasks=tasks.get(model_type, ()),
        ))
    return archs


def category(name: str) -> str | None:
    """A category, by its own name or the seed's (templates/inventory.yaml category_aliases); None if neither."""
    if name in CATEGORIES:
        return name
    return (data.load("inventory.yaml").get("category_aliases") or {}).get(name)


def by_type(archs: list[Architecture] | None = None) -> dict[str, Architecture]:
    return {a.model_type: a for a in (archs if archs is not None else discover())}
