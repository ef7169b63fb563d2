"""`hwcov`: the seed's verbs, each a Dagster materialization (hwcov.orchestration) or a read of the DuckDB file.

Layout: parser.py builds the command line from the verbs each topic module declares (verbs_reports, verbs_results,
verbs_repair, verbs_bench); validate.py checks it; verbs_run.py and verbs_config.py hold the verbs that run or
write configuration; output.py what they share. This module chooses the paths for the call and dispatches.

Bad input (a malformed or out-of-range option, unknown model, category, hardware, format; an unusable, damaged or
empty database; a bad platform, schedule or popularity file) is an hwcov.core.errors.HwcovError: one line on stderr
and exit code 2, before anything is written. Ctrl-C (SIGINT) is one line, "hwcov: interrupted", and exit code 130.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

from hwcov.cli import (
    verbs_bench,
    verbs_checkpoint,
    verbs_config,
    verbs_docs,
    verbs_errors,
    verbs_generators,
    verbs_ingest,
    verbs_optimize,
    verbs_repair,
    verbs_reports,
    verbs_results,
    verbs_run,
    verbs_seed,
    verbs_ui,
)
from hwcov.cli.parser import Verb, build
from hwcov.cli.validate import validate
from hwcov.core import paths
from hwcov.core.errors import HwcovError

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process Ctrl-C ended

# Every verb, in the order main() runs them when several are given.
VERBS: list[Verb] = [*verbs_seed.VERBS, *verbs_reports.VERBS, *verbs_results.VERBS, *verbs_ingest.VERBS,
                     *verbs_checkpoint.VERBS, *verbs_ui.VERBS, *verbs_repair.VERBS,
                     *verbs_generators.VERBS, *verbs_bench.VERBS, *verbs_optimize.VERBS, *verbs_errors.VERBS,
                     *verbs_docs.VERBS]


def parser():
    return build(VERBS)


def wants_something(args, verbs: list[Verb]) -> bool:
    return bool(args.hardware or args.all or verbs or args.generate_tests or args.define_hardware
                or args.test_by_popularity or args.generate_schedule_config or args.ci_mode or args.generate_ci_config)


def chosen_verbs(args) -> list[Verb]:
    return [v for v in VERBS if getattr(args, v.name)]


def resolve(args) -> list[Verb]:
    """The seed's spellings rewritten onto hwcov's options (each verb's resolve, in VERBS order); the verbs then
    chosen. `--model X` alone is the seed's "test a model across all hardware platforms"."""
    for verb in chosen_verbs(args):
        if verb.resolve:
            verb.resolve(args)
    verbs = chosen_verbs(args)
    if (args.model or args.model_category) and not wants_something(args, verbs):
        args.all = True
    return verbs


def dispatch(args, verbs: list[Verb]) -> int:
    """Run what the command line asks for; the exit code."""
    verbs = resolve(args)
    if args.generate_schedule_config:
        return verbs_config.write_schedule_config(args)
    if args.ci_mode or args.generate_ci_config:
        return verbs_config.write_ci_config(args) if args.generate_ci_config else verbs_run.ci_mode(args)
    if args.define_hardware:
        verbs_config.define_hardware(args)
        if not (args.hardware or args.all or verbs or args.generate_tests):
            return 0
    if args.test_by_popularity:
        verbs_run.select_by_popularity(args)
    chosen = validate(args, verbs)
    if chosen.runs or args.generate_tests:
        code = verbs_run.sweep(args, chosen) or verbs_checkpoint.run_popular(args, chosen.hardware)
        if code:
            return code
    for verb in verbs:
        code = verb.run(args, chosen.hardware, chosen.models) if verb.run else 0
        if code:
            return code
    return 0


@contextmanager
def watching_sigint():
    """Yield a function telling whether SIGINT arrived meanwhile. Inside a Dagster step Dagster's own handler takes
    it (the step fails, no KeyboardInterrupt reaches us); the wakeup fd still sees it: Python's C-level handler
    writes every signal's number there, whichever Python handler then runs."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    seen: set[int] = set()

    def interrupted() -> bool:
        try:
            while chunk := os.read(read, 512):
                seen.update(chunk)
        except BlockingIOError:
            pass
        return signal.SIGINT in seen

    try:
        yield interrupted
    finally:
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)


def fail(exc: HwcovError) -> int:
    print(f"hwcov: error: {exc}", file=sys.stderr)
    return 2


def stop() -> int:
    print("hwcov: interrupted", file=sys.stderr)
    return INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    p = parser()
    try:
        args = p.parse_args(argv)
    except HwcovError as exc:  # parser.Parser.error: a malformed or out-of-range option
        return fail(exc)
    args.generate_tests = args.generate_tests or args.expand_hf_models
    verbs = chosen_verbs(args)
    if not (wants_something(args, verbs) or args.model or args.model_category):
        p.print_help()
        return 0
    # huggingface_hub reads this once, when it is imported: the environment is its only way in.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with watching_sigint() as interrupted:
        try:
            with paths.configured(db_path=args.db_path, generated_dir=args.generated_dir):
                code = dispatch(args, verbs)
        except KeyboardInterrupt:
            return stop()
        except HwcovError as exc:  # UsageError, ConfigError (platform, schedule, popularity files)
            return stop() if interrupted() else fail(exc)
        except Exception:
            if interrupted():  # what the interrupt broke, not a bug to show
                return stop()
            raise
        # Dagster captures SIGINT around its run and raises it only at its own checkpoints: one that arrives after
        # the last checkpoint is swallowed and the run ends normally. The user still asked to stop: say so.
        return stop() if interrupted() else code


if __name__ == "__main__":
    sys.exit(main())
