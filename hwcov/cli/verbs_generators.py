"""The seed guide's generator verbs ("Improving Test Generators", the merged generator, custom-hardware
adaptations), each on hwcov's template repair loop or its test generation.

hwcov has one generator: templates/tests (base -> modality -> family -> hardware) rendered per architecture, with
per-architecture data; "updating a generator" is the repair loop (hwcov.repair) over the stored failures of the
architectures named, recorded with before/after pass rates in hwcov.generator_updates (hwcov.repair.updates).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.cli.verbs_repair import repair_loop, repair_plan
from hwcov.cli.verbs_seed import turn_on
from hwcov.core import paths
from hwcov.core.errors import UsageError

EVERY_FAMILY = "transformer"  # the seed's family name for "every architecture": all of them are transformers


def inventory_group(column: str, value: str) -> list[str]:
    """The stored inventory's model types whose `column` (modality, family) is `value`; UsageError naming the
    accepted values otherwise."""
    inv = output.inventory()
    if column == "family" and value == EVERY_FAMILY:
        return sorted(inv["model_type"])
    models = sorted(inv.loc[inv[column] == value, "model_type"])
    if not models:
        raise UsageError(f"no {column} {value!r} in the inventory; accepted: {', '.join(sorted(set(inv[column])))}"
                         + (f", {EVERY_FAMILY}" if column == "family" else ""))
    return models


def update_group(args, hardware: list[str], name: str, group: list[str]) -> None:
    """The repair loop over `group` on --hardware (default cpu), with one before/after row per hardware in
    generator_updates, printed."""
    from hwcov.repair import updates
    from hwcov.reports import report

    rows = updates.group_update(name, hardware or ["cpu"], group, lambda hw, ms: repair_loop(args, hw, ms))
    print(report.table(_frame(rows, ["hardware_platform", "affected_models", "success_rate_before",
                                     "success_rate_after", "patch_description"])))
    print(f"{name}: {len(group)} architectures; recorded in hwcov.generator_updates")


def group_verb(column: str):
    """--update-modality-templates / --enhance-family-templates: update_group over the group's architectures."""
    def verb(args, hardware, models) -> None:
        value = getattr(args, column)
        if not value:
            raise UsageError(f"--{'update-modality-templates' if column == 'modality' else 'enhance-family-templates'}"
                             f" needs --{column}")
        group = [m for m in inventory_group(column, value) if not models or m in models]
        if not group:
            raise UsageError(f"none of --model {', '.join(models)} is of {column} {value!r}")
        update_group(args, hardware, f"{column} {value}", group)

    verb.__name__ = f"update_{column}"
    return verb


def every_generator(name: str):
    """--update-generators / --enhance-merged-generator: update_group over every architecture (or --model)."""
    def verb(args, hardware, models) -> None:
        update_group(args, hardware, name, models or sorted(output.inventory()["model_type"]))

    verb.__name__ = name.replace(" ", "_")
    return verb


def _frame(rows, columns):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def verify_improvements(args, hardware, models) -> None:
    """Every recorded generator update (filtered to --model) against its architectures' pass rate now."""
    from hwcov.repair import updates
    from hwcov.reports import report

    checked = updates.verification(models)
    if checked.empty:
        print("no generator updates recorded" + (f" for {', '.join(models)}" if models else "") +
              f" in {paths.db_path()}; --update-generators, --update-modality-templates or "
              "--enhance-family-templates record them")
        return
    print(report.table(checked))
    print(f"{(checked['verdict'] == 'holds').sum()} of {len(checked)} updates hold")


def analyze_generators(args, hardware, models) -> None:
    """Pass rate per template chain and hardware; the lowest first (where a template change helps most)."""
    from hwcov.repair import updates
    from hwcov.reports import report

    results = output.results()
    results = results[results["hardware"].isin(hardware)] if hardware else results
    table = updates.effectiveness(results, output.read("SELECT * FROM hwcov.generated_tests"))
    output.emit("# Generator effectiveness\n\nPass rate of the generated tests per template chain and hardware "
                "(unavailable hardware left out), lowest first.\n\n" + report.table(table), args.output)


def test_generators(args, hardware, models) -> int:
    """Render every inventory architecture's test and compile it; --dry-run renders in memory and writes nothing,
    else the tests are (re)written to the generated-tests folder. No model runs. Exit 1 if one fails to compile."""
    from hwcov.cases import generate
    from hwcov.models import inventory

    archs = [a for a in inventory.discover() if not models or a.model_type in models]
    broken = []
    if args.dry_run:
        for arch in archs:
            content, _ = generate.render(arch)
            try:
                compile(content, generate.filename(arch.model_type), "exec")
            except SyntaxError as exc:
                broken.append(f"{arch.model_type}: line {exc.lineno}: {exc.msg}")
        where = "rendered in memory (--dry-run: nothing written)"
    else:
        rows = generate.generate(archs, paths.generated_dir())
        for row in rows:
            try:
                compile(Path(row["path"]).read_text(encoding="utf-8"), row["path"], "exec")
            except SyntaxError as exc:
                broken.append(f"{row['model_type']}: line {exc.lineno}: {exc.msg}")
        where = f"written to {paths.generated_dir()} ({sum(r['rewritten'] for r in rows)} changed)"
    for line in broken:
        print(f"does not compile: {line}")
    print(f"{len(archs) - len(broken)} of {len(archs)} generated tests compile; {where}; no model ran")
    return 1 if broken else 0


def generate_template_patches(args, hardware, models) -> None:
    """The repair plan as files: one YAML per machine-applicable recipe, manual.md for the rest."""
    from hwcov.repair import updates

    candidates, manual = repair_plan(hardware, models)
    written = updates.write_template_patches(candidates, manual, Path(args.output or "template_patches"))
    print(f"{len(candidates)} machine-applicable patches and manual.md ({len(manual)} failures) written to "
          f"{written[-1].parent}; apply the machine ones with `hwcov --auto-patch-generators`")


def generate_hardware_adaptations(args, hardware, models) -> None:
    """What the templates adapt per hardware, and how many rendered tests carry it: the hardware snippet, the
    precisions the tests declare, the tolerance and benchmark-matrix entries; then the failures there that a
    catalog fix covers. hwcov derives all of this from the registry: nothing is written by hand per hardware."""
    from hwcov.backends.registry import entry
    from hwcov.bench.cells import matrix
    from hwcov.cases import generate
    from hwcov.core import data
    from hwcov.models import inventory
    from hwcov.repair import loop as repair

    archs = inventory.discover()
    with tempfile.TemporaryDirectory() as tmp:
        rows = generate.generate(archs, Path(tmp))
        texts = [Path(r["path"]).read_text(encoding="utf-8") for r in rows]
    tolerances = data.load("tolerances.yaml")
    for hw in hardware:
        e = entry(hw)
        snippet = paths.templates_dir() / "tests" / "hardware" / f"{e.key}.py.j2"
        declared = sum(f"    '{hw}': (" in t for t in texts)
        tolerance = (tolerances.get("hardware") or {}).get(e.tolerance_key(), "the defaults")
        print(f"## {hw}\n- backend {e.backend}; precisions {', '.join(e.precisions)}; timeout {e.timeout_s:g} s\n"
              f"- template snippet: {snippet if snippet.exists() else 'none (the base template covers it)'}\n"
              f"- tolerance: {tolerance}\n- benchmark matrix: {matrix(hw)}\n"
              f"- {declared} of {len(rows)} rendered tests declare {hw}")
    if paths.db_path().exists():
        candidates, _ = repair_plan(hardware, models)
        print(repair.identify_markdown(candidates, []))


def bulk_generate_tests(args, hardware, models) -> None:
    """Tests for a --category, --popularity-rank A-B or --all-models, into --output-dir (default: the
    generated-tests folder); with --hardware, how many of them declare each (a test runs where it declares)."""
    from hwcov.cases import generate
    from hwcov.models import inventory, popularity

    archs = inventory.discover()
    if args.category:
        wanted = inventory.category(args.category)
        if wanted is None:
            raise UsageError(f"unknown model category {args.category!r}; accepted: {', '.join(inventory.CATEGORIES)}")
        chosen, what = [a for a in archs if a.category == wanted], f"category {wanted}"
    elif args.popularity_rank:
        first, last = map(int, args.popularity_rank.split("-"))
        ranked = popularity.ranked({a.model_type for a in archs})[0][first - 1:last]
        chosen, what = [a for a in archs if a.model_type in ranked], f"popularity ranks {args.popularity_rank}"
    elif args.all_models or models:
        chosen, what = [a for a in archs if not models or a.model_type in models], "--model" if models else "all"
    else:
        raise UsageError("--bulk-generate-tests needs --category, --popularity-rank A-B, --all-models or --model")
    folder = Path(args.output_dir) if args.output_dir else paths.generated_dir()
    rows = generate.generate(chosen, folder)
    print(f"{len(rows)} tests ({what}) in {folder}: {sum(r['rewritten'] for r in rows)} written, the rest unchanged")
    for hw in hardware:
        declared = sum(f"    '{hw}': (" in Path(r["path"]).read_text(encoding="utf-8") for r in rows)
        print(f"{hw}: declared by {declared} of {len(rows)} (their PRECISIONS block; `hwcov --hardware {hw}` runs them)")


VERBS = [
    Verb("bulk_generate_tests", "bulk", "tests for --category / --popularity-rank A-B / --all-models into "
         "--output-dir; no model runs", bulk_generate_tests, sweeps=False, reads_db=False),
    Verb("update_generators", "generators", "the repair loop over every architecture's stored failures on "
         "--hardware (default cpu); before/after pass rate in generator_updates", every_generator("all generators"),
         sweeps=False),
    Verb("verify_improvements", "generators", "each recorded generator update against its pass rate now",
         verify_improvements, sweeps=False),
    Verb("analyze_generators", "generators", "pass rate per template chain and hardware, lowest first",
         analyze_generators, sweeps=False),
    Verb("update_modality_templates", "generators", "the repair loop over one --modality's architectures; "
         "before/after pass rate in generator_updates", group_verb("modality"), sweeps=False),
    Verb("enhance_family_templates", "generators", "the same for one --family (`transformer`: every family)",
         group_verb("family"), sweeps=False),
    Verb("test_generators", "generators", "render and compile every architecture's test (--dry-run: write "
         "nothing); no model runs", test_generators, sweeps=False, reads_db=False),
    Verb("generate_template_patches", "results", "the repair plan as files in --output: one YAML per machine fix, "
         "manual.md for the rest", generate_template_patches, sweeps=False),
    Verb("enhance_merged_generator", "generators", "--update-generators on each --hardware (hwcov has one "
         "generator: its templates)", every_generator("merged generator"), sweeps=False),
    Verb("verify_generator_enhancements", "generators", "--verify-improvements for --model", None,
         resolve=turn_on("verify_improvements"), sweeps=False),
    Verb("generate_hardware_adaptations", "platforms", "what the templates adapt for --hardware and how many tests "
         "declare it; the failures there a catalog fix covers", generate_hardware_adaptations, sweeps=False,
         reads_db=False, hardware="some"),
]
