"""The template repair verbs (hwcov.repair.loop, from the stored failures; --hardware filters):
--identify-patch-patterns, --suggest-manual-patches, --auto-patch-generators (reruns through the local Dagster
pipeline, hwcov.orchestration.repair_rerun).
"""
from __future__ import annotations

import json

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.cli.verbs_run import print_summary, timeout
from hwcov.core.errors import UsageError


def repair_plan(hardware: list[str], models: list[str]):
    from hwcov.repair import loop as repair

    results = output.results()
    with output.connect() as con:
        reverted = repair.reverted_trials(con)
    return repair.plan(results, reverted, hardware or None, models or None)


def identify_patch_patterns(args, hardware, models) -> None:
    """Failure patterns with a machine-applicable fix in the catalog, and the architectures they affect."""
    from hwcov.repair import loop as repair

    output.emit(repair.identify_markdown(*repair_plan(hardware, models)), args.output)


def suggest_manual_patches(args, hardware, models) -> None:
    """The failures no machine fix covers, as concrete template-edit suggestions."""
    from hwcov.repair import loop as repair

    output.emit(repair.manual_markdown(repair_plan(hardware, models)[1]), args.output)


def auto_patch_generators(args, hardware, models) -> None:
    """Apply the catalog's machine fixes as override data, rerun the affected architectures, keep what helps."""
    repair_loop(args, hardware, models)


def repair_loop(args, hardware: list[str], models: list[str]) -> list[dict]:
    """The repair loop on --hardware (default cpu) over the stored failures of `models` (all: []); its trials."""
    from hwcov.backends.registry import RUNNABLE, custom_platforms
    from hwcov.orchestration import repair_rerun
    from hwcov.repair import loop as repair

    hardware = hardware or ["cpu"]
    not_runnable = [h for h in hardware if h not in RUNNABLE and h not in custom_platforms()]
    if not_runnable:
        raise UsageError(f"hardware {', '.join(not_runnable)} has no backend yet; runnable: {', '.join(RUNNABLE)}")
    pipeline_rerun = repair_rerun.rerun(args.workers, timeout(args))

    def rerun(hw: str, rerun_models: list[str], force: bool = False) -> bool:
        ok = pipeline_rerun(hw, rerun_models, force=force)
        if ok:
            print_summary([hw], rerun_models, None)
        return ok

    trials = repair.auto_patch(output.results(), hardware, models or None, rerun=rerun,
                               run_id=repair_rerun.last_run_id, retry_reverted=args.force)
    if not trials:
        print("auto-patch: no stored failure has a machine-applicable fix (see --suggest-manual-patches)")
    for t in trials:
        print(f"{'KEPT' if t['kept'] else 'REVERTED'} {t['generator_name']} on {t['hardware_platform']}: "
              f"{t['success_rate_before']} -> {t['success_rate_after']} for {', '.join(json.loads(t['model_types']))}")
    print(f"auto-patch: {sum(t['kept'] for t in trials)} of {len(trials)} fixes kept in "
          f"{repair.auto_path()}; recorded in hwcov.generator_updates")
    return trials


VERBS = [
    Verb("identify_patch_patterns", "generators",
         "failure patterns with a machine-applicable fix in the catalog, and the archs affected",
         identify_patch_patterns, sweeps=False),
    Verb("auto_patch_generators", "generators",
         "apply those fixes as override data, rerun the affected archs on --hardware (default cpu), keep a fix only "
         "if their pass rate rises (recorded in generator_updates); --force retries fixes reverted before",
         auto_patch_generators, sweeps=False),
    Verb("suggest_manual_patches", "generators",
         "the failures no machine fix covers, as template-edit suggestions (markdown; --output)",
         suggest_manual_patches, sweeps=False),
]
