"""`hwcov`: the seed's verbs, each a Dagster materialization (hwcov.orchestration) or a read of the DuckDB file.

Layout: parser.py builds the command line from the verbs each topic module declares (verbs_reports, verbs_results,
verbs_repair, verbs_bench); validate.py checks it; verbs_run.py and verbs_config.py hold the verbs that run or
write configuration; output.py what they share. This module chooses the paths for the call and dispatches.

Bad input (unknown model, category, hardware, format; an unusable or empty database; a bad platform, schedule or
popularity file) is an hwcov.core.errors.HwcovError: one line on stderr and exit code 2, before anything is written.
"""
from __future__ import annotations

import os
import sys

from hwcov.cli import verbs_bench, verbs_config, verbs_repair, verbs_reports, verbs_results, verbs_run
from hwcov.cli.parser import Verb, build
from hwcov.cli.validate import validate
from hwcov.core import paths
from hwcov.core.errors import HwcovError

# Every verb, in the order main() runs them when several are given.
VERBS: list[Verb] = [*verbs_reports.VERBS, *verbs_results.VERBS, *verbs_repair.VERBS, *verbs_bench.VERBS]


def parser():
    return build(VERBS)


def wants_something(args, verbs: list[Verb]) -> bool:
    return bool(args.hardware or args.all or verbs or args.generate_tests or args.define_hardware
                or args.test_by_popularity or args.generate_schedule_config or args.ci_mode or args.generate_ci_config)


def dispatch(args, verbs: list[Verb]) -> int:
    """Run what the command line asks for; the exit code."""
    if args.generate_schedule_config:
        return verbs_config.write_schedule_config(args)
    if args.ci_mode or args.generate_ci_config:
        verbs_config.check_priority(args.priority)
        return verbs_config.write_ci_config(args) if args.generate_ci_config else verbs_run.ci_mode(args)
    if args.define_hardware:
        verbs_config.define_hardware(args)
        if not (args.hardware or args.all or verbs or args.generate_tests):
            return 0
    if args.test_by_popularity:
        verbs_run.select_by_popularity(args)
    chosen = validate(args, verbs)
    if chosen.runs or args.generate_tests:
        code = verbs_run.sweep(args, chosen)
        if code:
            return code
    for verb in verbs:
        code = verb.run(args, chosen.hardware, chosen.models)
        if code:
            return code
    return 0


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    args.generate_tests = args.generate_tests or args.expand_hf_models
    verbs = [v for v in VERBS if getattr(args, v.name)]
    if not wants_something(args, verbs):
        p.print_help()
        return 0
    # huggingface_hub reads this once, when it is imported: the environment is its only way in.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        with paths.configured(db_path=args.db_path, generated_dir=args.generated_dir):
            return dispatch(args, verbs)
    except HwcovError as exc:  # UsageError, ConfigError (platform, schedule, popularity files)
        print(f"hwcov: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
