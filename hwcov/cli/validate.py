"""Check a command line before anything runs: unknown model, category, hardware, precision or format, a verb
without the --model/--hardware/--output it needs, an unusable or damaged database. Each is one UsageError (exit 2)
raised before anything is written. (Each option's own range and form is checked as it is parsed: parser.py.)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hwcov.cli.parser import EXPORT_FORMATS, Verb
from hwcov.core import paths
from hwcov.core.errors import UsageError


@dataclass
class Chosen:
    """What the command line selects, validated."""
    hardware: list[str]
    models: list[str]
    runs: bool  # sweep the hardware before the verbs
    batch_sizes: list[int]


def split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def check_db_path(path: Path, must_exist: bool) -> None:
    if path.is_dir():
        raise UsageError(f"--db-path {path} is a directory; give a file such as {path / 'benchmark_db.duckdb'}")
    if must_exist and not path.exists():
        raise UsageError(f"no database at {path}; run `hwcov --hardware cpu` first or pass --db-path")
    if not path.parent.is_dir():
        raise UsageError(f"--db-path {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--db-path {path} is not writable")
    if path.exists():
        check_db_readable(path)


def check_db_readable(path: Path) -> None:
    """Open the file read-only and read every table's every column: a truncated or damaged file (a failed block
    checksum, a block past the end) is refused here, before a run writes into it or a report half-reads it."""
    import duckdb

    from hwcov.store import database as store

    try:
        con = store.connect(path, read_only=True)
        try:
            con.execute("PRAGMA database_size").fetchall()
            tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                 "WHERE database_name = current_database()").fetchall()
            for schema, table in tables:
                quoted = ".".join('"' + n.replace('"', '""') + '"' for n in (schema, table))
                con.execute(f"SELECT count(*), max(hash(COLUMNS(*))) FROM {quoted}").fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--db-path {path} is not a usable DuckDB database: {first}") from None


def spelling(name: str) -> str:
    """What a model name is matched by: case and `_` / `-` don't count (deberta_v2 is deberta-v2)."""
    return name.lower().replace("_", "-")


def check_models(models: list[str]) -> list[str]:
    """The model types as the inventory spells them; a name that is none, even loosely, is one line naming the
    closest ones."""
    import difflib

    from hwcov.models.inventory import model_types

    known = model_types()
    loose = {spelling(k): k for k in known}
    chosen = [m if m in known else loose.get(spelling(m), m) for m in models]
    unknown = [m for m in chosen if m not in known]
    if unknown:
        import transformers

        close = difflib.get_close_matches(spelling(unknown[0]), list(loose), n=3, cutoff=0.75)
        hint = f"did you mean {', '.join(repr(loose[c]) for c in close)}? " if close else ""
        raise UsageError(f"unknown model {', '.join(unknown)}; {hint}accepted: one of the {len(known)} model types "
                         f"of transformers {transformers.__version__} (e.g. bert, gpt2, t5, vit, whisper)")
    return list(dict.fromkeys(chosen))


def check_verb(verb: Verb, args, hardware: list[str], models: list[str]) -> None:
    """The verb's declared needs: --output, exactly one --model, one or some --hardware."""
    if verb.needs_output and not args.output:
        raise UsageError(f"{verb.flag} needs --output")
    unmet = []
    if verb.one_model and len(models) != 1:
        unmet.append("exactly one --model")
    if verb.hardware == "one" and len(hardware) != 1:
        unmet.append("exactly one --hardware")
    if verb.hardware == "some" and not hardware:
        unmet.append("--hardware")
    if unmet:
        raise UsageError(f"{verb.flag} needs {' and '.join(unmet)}")


def validate(args, verbs: Sequence[Verb]) -> Chosen:
    from hwcov.backends.registry import RUNNABLE, all_hardware, custom_platforms
    from hwcov.core.schema import PRECISIONS
    from hwcov.models.inventory import CATEGORIES, category

    hardware = split(args.hardware)
    known = all_hardware()
    if "all" in hardware:  # the seed's `--hardware all`: what --all runs
        args.all, hardware = True, [h for h in hardware if h != "all"]
    bad = [h for h in hardware if h not in known]
    if bad:
        raise UsageError(f"unknown hardware {', '.join(bad)}; accepted: {', '.join(known)}")
    runs = bool(hardware or args.all) and all(v.sweeps for v in verbs)
    not_built = [h for h in hardware if h not in RUNNABLE and h not in custom_platforms()]
    if runs and not_built:
        raise UsageError(f"hardware {', '.join(not_built)} has no backend yet; runnable: {', '.join(RUNNABLE)}")
    if args.all:
        hardware = list(dict.fromkeys(hardware + list(RUNNABLE) + list(custom_platforms())))
    if args.model_category:
        if category(args.model_category) is None:
            raise UsageError(f"unknown model category {args.model_category!r}; accepted: {', '.join(CATEGORIES)}")
        args.model_category = category(args.model_category)
    models = split(args.model)
    if models and getattr(args, "all_models", False):
        raise UsageError("--all-models means every architecture of the inventory; drop --model")
    if models:
        models = check_models(models)
        args.model = ",".join(models)
    batch_sizes = [int(b) for b in split(args.batch_size)]  # parser.integers: at least one, each in range
    if args.precision and args.precision not in PRECISIONS:
        raise UsageError(f"unknown precision {args.precision!r}; accepted: {', '.join(PRECISIONS)}")
    if args.export_results and args.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {args.format!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    for verb in verbs:
        check_verb(verb, args, hardware, models)
    check_db_path(paths.db_path(), must_exist=any(v.reads_db for v in verbs) and not runs and not args.generate_tests)
    return Chosen(hardware, models, runs, list(dict.fromkeys(batch_sizes)))
