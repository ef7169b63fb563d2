"""The seed guide's error-pattern database verbs: --add-error-pattern writes a validated catalog entry;
--fix-error-pattern and --regenerate-tests regenerate the tests and rerun exactly the architectures the pattern
affects (hwcov.repair.catalog), on the hardware where each failed, and record the before/after pass rate in
hwcov.generator_updates.
"""
from __future__ import annotations

import json
from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.cli.verbs_run import print_summary, timeout
from hwcov.core import paths
from hwcov.core.errors import UsageError


def add_error_pattern(args, hardware, models) -> None:
    from hwcov.repair import catalog

    if not (args.name and args.solution and models):
        raise UsageError("--add-error-pattern needs --name, --models and --solution")
    results = output.results() if paths.db_path().exists() else None
    if results is None:
        import pandas as pd

        results = pd.DataFrame(columns=["model_type", "status", "error_message"])
    entry, source = catalog.add(args.name, models, args.solution, args.regex, results)
    print(f"error pattern {entry['name']} written to {catalog.added_path()}: matches /{entry['regex']}/ "
          f"({source}); models {', '.join(entry['models'])}; fix: {entry['fix']}")


def template_note(template_file: str | None) -> str:
    """What --template-file names, said plainly: hwcov's templates are the folder's Jinja tests and YAML data."""
    if not template_file:
        return ""
    root = paths.templates_dir()
    given = Path(template_file)
    for candidate in (given, root.parent / given, root / given):
        if candidate.resolve().is_relative_to(root) and candidate.is_file():
            return f"template {candidate.resolve().relative_to(root)}: regenerating the tests from it as it is now"
    return (f"{template_file} is not a file under {root} (hwcov's templates are templates/tests/**/*.py.j2 and the "
            "YAML data beside them): regenerating from the templates as they are")


def regenerate_for(args, pattern: str) -> int:
    """Regenerate the tests and rerun (forced) exactly the architectures `pattern` affects, per hardware."""
    from hwcov.orchestration import pipeline
    from hwcov.repair import catalog, updates
    from hwcov.store import database as store

    note = template_note(getattr(args, "template_file", None))
    if note:
        print(note)
    affected = catalog.affected(output.results(), pattern)
    if not affected:
        print(f"no stored failure is classified as {pattern}; nothing to regenerate or rerun")
        return 0
    for hw, models in affected.items():
        before = updates.rates([hw], models)[hw]
        print(f"{pattern} on {hw}: regenerating and rerunning {', '.join(models)}")
        if not pipeline.run_pipeline([hw], models, None, force=True, regenerate=True, workers=args.workers,
                                     timeout=timeout(args)):
            return 1
        print_summary([hw], models, None)
        after = updates.rates([hw], models)[hw]
        with store.connect(paths.db_path()) as con:
            store.record_generator_update(con, {
                "generator_name": f"regenerate {pattern}", "hardware_platform": hw,
                "patch_description": f"regenerated and reran the architectures {pattern} affects",
                "affected_models": len(models), "success_rate_before": before, "success_rate_after": after,
                "model_types": json.dumps(models), "run_id": ""})
        print(f"{pattern} on {hw}: pass rate {before} -> {after}")
    return 0


def fix_error_pattern(args, hardware, models) -> int:
    if not args.pattern:
        raise UsageError("--fix-error-pattern needs --pattern NAME")
    return regenerate_for(args, args.pattern)


def regenerate_tests(args, hardware, models) -> int:
    if not args.error_pattern:
        raise UsageError("--regenerate-tests needs --error-pattern NAME")
    return regenerate_for(args, args.error_pattern)


def errors(name: str, text: str, run, **needs) -> Verb:
    return Verb(name, "errors", text, run, sweeps=False, **needs)


VERBS = [
    errors("add_error_pattern", "write a catalog entry (--name, --models, --solution; --regex, else learnt from "
           "the stored failures of --models) to templates/error_patterns_added.yaml", add_error_pattern,
           reads_db=False),
    errors("fix_error_pattern", "after editing a template (--template-file): regenerate and rerun exactly the "
           "architectures --pattern affects", fix_error_pattern),
    errors("regenerate_tests", "regenerate and rerun exactly the architectures --error-pattern affects",
           regenerate_tests),
]
