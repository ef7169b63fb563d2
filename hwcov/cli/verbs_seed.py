"""The seed guide's verbs that are hwcov's own under another name, or a selection spelled another way.

Users come with HF_COMPREHENSIVE_TESTING_GUIDE.md's command lines. Where hwcov already does what a seed verb asks,
the verb resolves onto hwcov's options before validation (`--coverage-report` is `--report`, `--test-on-hardware K`
is `--hardware K`, `--benchmark-all` is `--benchmark` on every hardware) and runs nothing of its own. The few that
combine existing pieces (--detailed-analysis, --visualize-coverage, --comparative-report, --add-hardware,
--run-scheduled-tests, --generate-reference-outputs) are here too. The README's table lists every seed line.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.core.errors import UsageError


def turn_on(*targets: str, **values):
    """A resolve setting hwcov's own flags (and options not given) for a seed alias."""
    def resolve(args) -> None:
        for target in targets:
            setattr(args, target, True)
        for option, value in values.items():
            if not getattr(args, option, None):
                setattr(args, option, value)

    return resolve


def one_hardware(option: str):
    """`--<option> KEY` is `--hardware KEY` (refused beside a different --hardware)."""
    def resolve(args) -> None:
        key = getattr(args, option)
        if args.hardware and args.hardware != key:
            raise UsageError(f"--{option.replace('_', '-')} {key} and --hardware {args.hardware} disagree; give one")
        args.hardware = key

    return resolve


def category_models(name: str) -> list[str]:
    """The inventory's model types of a category (hwcov's name or the seed's); UsageError when it names none."""
    from hwcov.models import inventory

    category = inventory.category(name)
    if category is None:
        raise UsageError(f"unknown model category {name!r}; accepted: {', '.join(inventory.CATEGORIES)}")
    return sorted(a.model_type for a in inventory.discover() if a.category == category)


def subset_models(args) -> None:
    """--test-model-subset NAME: the model types of model_subsets/NAME.json (--create-model-subsets writes them), or
    of the category NAME names; they become --model."""
    name = args.test_model_subset
    folder = Path(args.input or "model_subsets")
    stored = folder / f"{name}.json"
    if stored.resolve().parent == folder.resolve() and stored.is_file():
        models = json.loads(stored.read_text(encoding="utf-8"))
    else:
        try:
            models = category_models(name)
        except UsageError:
            raise UsageError(f"no subset {name!r}: not {stored} and not a model category; write subsets with "
                             f"`hwcov --create-model-subsets --output {folder}/` first") from None
    if not models:
        raise UsageError(f"subset {name!r} holds no architecture of this inventory")
    args.model = ",".join(models)


def custom_platform_key(args) -> str:
    from hwcov.backends import platforms

    if not args.config:
        raise UsageError("--define-custom-hardware / --use-custom-hardware need --config FILE.json")
    return platforms.load_file(Path(args.config)).platform_key


def define_custom(args) -> None:
    args.define_hardware, args.properties = custom_platform_key(args), args.config


def use_custom(args) -> None:
    from hwcov.backends.registry import custom_platforms

    key = custom_platform_key(args)
    if key not in custom_platforms():
        raise UsageError(f"platform {key!r} of {args.config} is not defined; run "
                         f"`hwcov --define-custom-hardware --config {args.config}` first")
    args.hardware = key


def benchmark_category(args) -> None:
    """--benchmark-category C: --benchmark of the category's architectures on --hardware (default cpu)."""
    args.model = args.model or ",".join(category_models(args.benchmark_category))
    args.benchmark, args.hardware = True, args.hardware or "cpu"


def add_hardware(args, hardware, models) -> None:
    """What hwcov knows of a hardware key: its registry entry and whether its runtime is present here."""
    from hwcov.backends.registry import BY_KEY, custom_platforms, entry, get_backend

    key = args.add_hardware
    if key not in BY_KEY and key not in custom_platforms():
        raise UsageError(f"unknown hardware {key!r}; define it with `hwcov --define-hardware {key} "
                         "--properties FILE.json` (the seed's platform JSON)")
    hw = entry(key)
    probe = get_backend(key).probe()
    kind = "built in" if key in BY_KEY else f"a custom platform on {hw.key}"
    print(f"{key}: {kind}; backend {hw.backend}, precisions {', '.join(hw.precisions)}; every generated test "
          "declares it (PRECISIONS), so nothing needs adding")
    print(f"{key} here: " + (f"available ({probe.device_name})" if probe.available else
                             f"unavailable: {probe.error}; its cases are recorded unavailable with that text"))
    print(f"run it: hwcov --hardware {key}")


def detailed_analysis(args, hardware, models) -> None:
    """The coverage report and every results analysis, in one markdown."""
    from hwcov.reports import analysis, report

    inv, res = output.inventory(), output.results()
    parts = [report.markdown(inv, res), analysis.analyze_coverage(inv, res), analysis.analyze_failures(res),
             analysis.group_failures(res), analysis.hardware_failure_analysis(res), analysis.estimate_effort(res)]
    output.emit("\n\n".join(parts), args.output)


def visualize_coverage(args, hardware, models) -> None:
    """The dashboard's pass-rate heatmap and status bars as one self-contained HTML file."""
    from hwcov.reports import dashboard

    target = Path(args.output or "coverage_visualization.html")
    dashboard.coverage_page(output.inventory(), output.results(), target)
    print(f"coverage visualization written to {target}")


def comparative_report(args, hardware, models) -> None:
    """Status per model x hardware (and x mode, where an exported runtime judged one), then the measured performance
    of the same models where benchmarked."""
    import pandas as pd

    from hwcov.reports import analysis, report
    from hwcov.store import database as store

    res = output.results()
    res = res[res["model_type"].isin(models)] if models else res
    res = res[res["hardware"].isin(hardware)] if hardware else res
    latest = res.sort_values("test_timestamp").drop_duplicates(["model_type", "hardware", "precision"], keep="last")
    modes = report.mode_cells(output.inventory(), latest)  # '<hw> · dynamic' / '· generate' beside the forward's
    latest = pd.concat([latest, modes.assign(precision="fp32")[["model_type", "precision", "hardware", "status"]]],
                       ignore_index=True)
    status = latest.pivot_table(index=["model_type", "precision"], columns="hardware", values="status",
                                aggfunc="first").fillna("-").reset_index() if len(latest) else latest
    with output.connect() as con:
        bench = store.read_table(con, "benchmark_results")
    bench = bench[bench["model_type"].isin(models)] if models else bench
    bench = bench[bench["hardware"].isin(hardware)] if hardware else bench
    text = "# Comparative report\n\n## Status\n\n" + (report.table(status) if len(status) else "no results") + "\n\n"
    text += ("## Performance\n\n" + analysis.compare_hardware_performance(bench) if len(bench) else
             "## Performance\n\nno benchmark cells for these models and hardware yet "
             "(`hwcov --benchmark --model ... --hardware ...`)\n")
    output.emit(text, args.output)


def run_scheduled_tests(args, hardware, models) -> int:
    """Each schedule of the file, run once now as its Dagster job would (hardware, category, priority), --model
    and --hardware narrowing it; the Dagster daemon (`dagster dev`) runs them on their cron."""
    import os

    from hwcov.backends.registry import all_hardware
    from hwcov.cli.verbs_run import print_summary, timeout
    from hwcov.core import schedule_config
    from hwcov.models.inventory import CATEGORIES
    from hwcov.orchestration import pipeline

    path = Path(args.schedule or schedule_config.DEFAULT_FILE)
    if not path.is_file():
        raise UsageError(f"no schedule file {path}; write one with `hwcov --generate-schedule-config --output {path}`")
    before = os.environ.get(schedule_config.SCHEDULE_ENV)
    os.environ[schedule_config.SCHEDULE_ENV] = str(path.resolve())  # schedule_config reads its file from here
    try:
        specs = schedule_config.load(all_hardware(), CATEGORIES)
    finally:
        if before is None:
            del os.environ[schedule_config.SCHEDULE_ENV]
        else:
            os.environ[schedule_config.SCHEDULE_ENV] = before
    for spec in specs:
        if hardware:  # --hardware narrows each schedule to the hardware it names
            spec = replace(spec, hardware=tuple(h for h in spec.hardware if h in hardware))
            if not spec.hardware:
                continue
        print(f"schedule {spec.name} (cron {spec.cron}): {', '.join(spec.hardware)}"
              f"{f', category {spec.category}' if spec.category else ''}"
              f"{f', priority <= {spec.max_priority}' if spec.max_priority else ''}: running now")
        if not pipeline.run_pipeline(list(spec.hardware), models, spec.category or None, workers=args.workers,
                                     timeout=timeout(args), max_priority=spec.max_priority):
            return 1
        print_summary(list(spec.hardware), models, spec.category or None)
    print(f"the schedules of {path} ran once; `DAGSTER_HOME=$PWD/.dagster dagster dev` runs them on their cron")
    return 0


def generate_reference_outputs(args, hardware, models) -> None:
    """The CPU fp32 reference outputs of one --model (its generated case, batch 1), as .npz plus a manifest."""
    import numpy as np

    from hwcov.backends.exported import reference_outputs
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.models.build import build_case

    arch = inventory.by_type().get(models[0])
    if arch is None:
        raise UsageError(f"{models[0]} is not in this inventory (templates/inventory.yaml)")
    case = generate.case_for(arch)
    outputs, _ = reference_outputs(build_case(case, 1), case, 1, None)
    folder = Path(args.output or "reference_outputs")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{generate.filename(models[0])[len('test_hf_'):-3]}.npz"
    np.savez(target, **outputs)
    manifest = {name: {"shape": list(v.shape), "dtype": str(v.dtype)} for name, v in outputs.items()}
    target.with_suffix(".json").write_text(json.dumps({"model_type": models[0], "hardware": "cpu",
                                                       "precision": "fp32", "batch_size": 1, "outputs": manifest},
                                                      indent=1), encoding="utf-8")
    print(f"{len(outputs)} reference outputs of {models[0]} (cpu fp32, batch 1) written to {target}")


def seed(name: str, group: str, text: str, run=None, resolve=None, **needs) -> Verb:
    return Verb(name, group, text, run, resolve=resolve, **needs)


VERBS = [
    seed("add_hardware", "run", "what hwcov knows of a hardware key (registry entry, probe here)", add_hardware,
         value="KEY", sweeps=False, reads_db=False),
    seed("coverage_report", "database", "the seed's name for --report", resolve=turn_on("report")),
    seed("benchmark_all", "bench", "--benchmark on every hardware (or --hardware)",
         resolve=turn_on("benchmark", hardware="all"), sweeps=False, reads_db=False),
    seed("benchmark_category", "bench", "--benchmark of the category's architectures on --hardware (default cpu)",
         resolve=benchmark_category, value="CATEGORY", sweeps=False, reads_db=False),
    seed("detailed_analysis", "advanced", "coverage report and every results analysis in one markdown (--output)",
         detailed_analysis),
    seed("visualize_coverage", "advanced", "pass-rate heatmap and status bars as one HTML file (--output)",
         visualize_coverage),
    seed("define_custom_hardware", "advanced", "--define-hardware with the key the --config JSON names",
         resolve=define_custom, reads_db=False),
    seed("use_custom_hardware", "advanced", "run on the platform the --config JSON defines (--hardware KEY)",
         resolve=use_custom, reads_db=False),
    seed("test_model_subset", "advanced", "run a subset (model_subsets/NAME.json or a category) on --hardware",
         resolve=subset_models, value="NAME", reads_db=False),
    seed("run_scheduled_tests", "advanced", "run each schedule of --schedule once now (--model narrows)",
         run_scheduled_tests, sweeps=False, reads_db=False),
    seed("profile_detailed", "profile", "--layer-profile and --memory-profile", resolve=turn_on(
         "layer_profile", "memory_profile"), sweeps=False, reads_db=False, one_model=True),
    seed("detailed_profiling", "profile", "the same as --profile-detailed", resolve=turn_on(
         "layer_profile", "memory_profile"), sweeps=False, reads_db=False, one_model=True),
    seed("update_dashboard", "profile", "--generate-dashboard into --dashboard-path (default dashboard/)",
         resolve=lambda args: turn_on("generate_dashboard", output=args.dashboard_path or "dashboard")(args)),
    seed("comparative_report", "profile", "status and performance of --models across --hardware",
         comparative_report, sweeps=False),
    seed("generate_reference_outputs", "validation", "CPU fp32 reference outputs of one --model to --output "
         "(.npz + manifest)", generate_reference_outputs, sweeps=False, reads_db=False, one_model=True),
    seed("validate_against_reference", "validation", "run --model on --hardware against the CPU reference, then "
         "its validation report", resolve=turn_on("validation_report", hardware="cpu"), one_model=True,
         reads_db=False),
    seed("test_on_hardware", "platforms", "run --models on this hardware (--hardware KEY)",
         resolve=one_hardware("test_on_hardware"), value="KEY", reads_db=False),
]
