"""The seed guide's documentation verbs: --extract-model-classes, --generate-from-docs, --validate-against-docs.

Each reads hwcov.models.docs, which takes a docs build when --docs-path holds one and the installed transformers'
docstrings otherwise; every verb prints which it used.
"""
from __future__ import annotations

import json
from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.core import paths
from hwcov.core.errors import UsageError


def documented(args) -> tuple[list, list[dict]]:
    """(inventory architectures, their documented classes), after saying where the documentation came from."""
    from hwcov.models import docs, inventory

    print(f"documentation: {docs.source(args.docs_path)}")
    archs = inventory.discover()
    return archs, docs.model_classes(archs, args.docs_path)


def extract_model_classes(args, hardware, models) -> None:
    _, rows = documented(args)
    target = Path(args.output or "model_classes.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(f"{sum(bool(r['documented_classes']) for r in rows)} of {len(rows)} architectures have documented model "
          f"classes; written to {target}")


def generate_from_docs(args, hardware, models) -> None:
    """Tests for the documented architectures (each with at least one documented model class), rendered from
    hwcov's templates into --output-dir (default: the generated-tests folder)."""
    from hwcov.cases import generate

    archs, rows = documented(args)
    keep = {r["model_type"] for r in rows if r["documented_classes"]}
    chosen = [a for a in archs if a.model_type in keep and (not models or a.model_type in models)]
    folder = Path(args.output_dir) if args.output_dir else paths.generated_dir()
    written = generate.generate(chosen, folder)
    print(f"{len(written)} tests for documented architectures in {folder} "
          f"({sum(r['rewritten'] for r in written)} written, the rest unchanged); "
          f"{len(archs) - len(chosen)} architectures left out (no documented model class)")


def validate_against_docs(args, hardware, models) -> int:
    """Every generated test in --tests-path against the documentation; exit 1 when one disagrees."""
    from hwcov.models import docs
    from hwcov.reports import report

    folder = Path(args.tests_path or paths.generated_dir())
    if not folder.is_dir():
        raise UsageError(f"no tests at {folder}; write them with `hwcov --generate-from-docs --output-dir {folder}` "
                         "first")
    _, rows = documented(args)
    checked = docs.check_tests(folder, {r["model_type"]: r["documented_classes"] for r in rows})
    if not checked:
        raise UsageError(f"no generated tests (test_hf_*.py) in {folder}; write them with "
                         f"`hwcov --generate-from-docs --output-dir {folder}` first")
    bad = [r for r in checked if r["verdict"] != "ok"]
    import pandas as pd

    output.emit(report.table(pd.DataFrame(bad or checked)) + f"\n{len(checked) - len(bad)} of {len(checked)} tests in "
                f"{folder} build a documented model class\n", args.output)
    return 1 if bad else 0


VERBS = [
    Verb("extract_model_classes", "docs", "each architecture's documented model classes to --output (JSON)",
         extract_model_classes, sweeps=False, reads_db=False),
    Verb("generate_from_docs", "docs", "tests for the documented architectures into --output-dir",
         generate_from_docs, sweeps=False, reads_db=False),
    Verb("validate_against_docs", "docs", "each test in --tests-path builds a documented model class",
         validate_against_docs, sweeps=False, reads_db=False),
]
