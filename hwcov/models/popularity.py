"""Which architectures users care about most: a shipped, dated ranking (templates/popularity.yaml).

The hub is unreachable here, so popularity is data with its source and date named, never fetched.
"""
from __future__ import annotations

import datetime

from hwcov.core import data
from hwcov.core.errors import ConfigError
from hwcov.models.inventory import NAME_RE

FILE = "popularity.yaml"


class PopularityError(ConfigError):
    """The ranking file is unusable (reported by the CLI as one line, exit 2)."""


def load() -> dict:
    """The ranking, validated: a named source, a compile date, unique positive ranks of model types."""
    try:
        spec = data.load(FILE)
    except (OSError, ValueError) as exc:
        raise PopularityError(f"templates/{FILE}: {exc}") from exc
    for key in ("source", "compiled", "ranks"):
        if not spec.get(key):
            raise PopularityError(f"templates/{FILE}: '{key}' is missing (a ranking must name its source and date)")
    if not isinstance(spec["compiled"], datetime.date):
        raise PopularityError(f"templates/{FILE}: 'compiled' must be a date (YYYY-MM-DD), got {spec['compiled']!r}")
    ranks = spec["ranks"]
    if not isinstance(ranks, dict):
        raise PopularityError(f"templates/{FILE}: 'ranks' must map model_type -> rank")
    for model_type, rank in ranks.items():
        if not (isinstance(model_type, str) and NAME_RE.match(model_type)):
            raise PopularityError(f"templates/{FILE}: {model_type!r} is not a model type name")
        if not (isinstance(rank, int) and not isinstance(rank, bool) and rank > 0):
            raise PopularityError(f"templates/{FILE}: rank of {model_type} must be a positive integer, got {rank!r}")
    if len(set(ranks.values())) != len(ranks):
        raise PopularityError(f"templates/{FILE}: two model types share a rank")
    from hwcov.models.checkpoints import HUB_ID

    popular = spec.get("checkpoints") or {}
    if not isinstance(popular, dict):
        raise PopularityError(f"templates/{FILE}: 'checkpoints' must map model_type -> [hub ids]")
    for model_type, ids in popular.items():
        if model_type not in ranks:
            raise PopularityError(f"templates/{FILE}: checkpoints of {str(model_type)[:60]!r}, which has no rank")
        if not isinstance(ids, list) or not all(isinstance(i, str) and "/" in i and HUB_ID.match(i)
                                                and ".." not in i for i in ids):
            raise PopularityError(f"templates/{FILE}: checkpoints of {model_type} must be hub ids owner/name")
    return spec


def cached_checkpoints(model_types: list[str]) -> tuple[list[str], list[str]]:
    """The popular checkpoints of these model types that are in the local Hugging Face cache, and those that are
    not (looked up on disk: nothing is downloaded)."""
    from huggingface_hub import try_to_load_from_cache

    ids = [i for m in model_types for i in (load().get("checkpoints") or {}).get(m, [])]
    cached = [i for i in ids if isinstance(try_to_load_from_cache(i, "config.json"), str)]
    return cached, [i for i in ids if i not in cached]


def ranked(known: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Model types by rank that the installed transformers has, and the ranked ones it does not."""
    from hwcov.models.inventory import model_types

    known = set(model_types()) if known is None else known
    order = sorted(load()["ranks"].items(), key=lambda kv: kv[1])
    return [m for m, _ in order if m in known], [m for m, _ in order if m not in known]


def top_models(n: int, known: set[str] | None = None) -> list[str]:
    if n < 1:
        raise PopularityError("--top must be at least 1")
    present, _ = ranked(known)
    return present[:n]


def describe() -> str:
    spec = load()
    return f"{spec['source']}; compiled {spec['compiled']}" + (f", as of {spec['as_of']}" if spec.get("as_of") else "")
