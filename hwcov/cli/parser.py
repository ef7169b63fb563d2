"""The `hwcov` argument parser, built from declared verbs.

A verb is an action flag (`--report`, `--benchmark`, ...) declared once, in the cli module of its topic
(verbs_reports, verbs_results, verbs_repair, verbs_bench), with what main() needs to know about it: whether it
needs --output, whether `--hardware` with it sweeps first or only filters, whether it needs a database to exist,
how many --model / --hardware it takes. The options below are the rest: run settings, filters, paths.
Import-cheap on purpose (`hwcov --help` loads no torch, no Dagster).

Each option's value is checked where it is parsed, by the small `type=` functions below (a finite, bounded number;
non-empty comma-separated names or integers; one of a fixed set): a bad one is one line naming the option and its
accepted range, exit code 2 (Parser.error raises UsageError; main prints it). Rules across options: validate.py.
"""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hwcov.core.errors import UsageError
from hwcov.core.schema import MODES

EPILOG = """examples:
  hwcov --hardware cpu                          full CPU sweep: inventory -> tests -> results -> patterns -> report
  hwcov --model bert,gpt2 --hardware cpu        only these architectures (others keep their stored results)
  hwcov --model-category vision --hardware cpu  one category
  hwcov --all                                   every hardware that can run (absent ones are recorded unavailable)
  hwcov --report                                coverage report (markdown) from the database
  hwcov --analyze-failures                      failure patterns with explanation and suggested template fix
  hwcov --diagnostics --model llava --hardware cpu   full error + standalone repro script
  hwcov --export-results --format csv --output results.csv
  hwcov --generate-dashboard --output dashboard/   then open dashboard/index.html
The database defaults to ./benchmark_db.duckdb (or $HWCOV_DB_PATH); the Dagster instance to
./.dagster (or $DAGSTER_HOME), the one `hwcov --ui` shows."""

EXPORT_FORMATS = ("csv", "parquet", "json")
MAX_TIMEOUT_S = 86400  # a day per case
MAX_WORKERS = 1024
MAX_BATCH = 4096
MAX_SEQ_LEN = 131072


def shown(value: str) -> str:
    """The value as typed; quoted where it is empty, padded or punctuation only, so the line shows it."""
    return value if value == value.strip() and any(c.isalnum() for c in value) else repr(value)


def bad(message: str):
    return argparse.ArgumentTypeError(message)


def number(low: float, high: float, unit: str = "", low_open: bool = False):
    """type=: a finite float (unit given) or an integer (no unit) in [low, high], or (low, high] when low_open."""
    kind = float if unit else int
    wanted = (f"a finite number of {unit}" if unit else "an integer") + f" in {'(' if low_open else '['}{low}, {high}]"

    def parse(value: str):
        try:
            x = kind(value)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and low <= x <= high and not (low_open and x == low)):
            raise bad(f"must be {wanted}, got {shown(value)}")
        return x

    parse.__name__ = kind.__name__
    return parse


def integers(low: int, high: int):
    """type=: comma-separated integers in [low, high], at least one; returned as the normalized text ("1,2,4")."""
    def parse(value: str) -> str:
        parts = [p.strip() for p in value.split(",")]
        out = [int(p) for p in parts if re.fullmatch(r"[+-]?\d+", p)]
        if not out or len(out) != len(parts) or not all(low <= x <= high for x in out):
            raise bad(f"must be comma-separated integers in [{low}, {high}], got {shown(value)}")
        return ",".join(map(str, out))

    parse.__name__ = "integers"
    return parse


def names(value: str) -> str:
    """type=: comma-separated names, at least one (`--model ""` or `--model ,` is refused, not "every model")."""
    out = [v.strip() for v in value.split(",") if v.strip()]
    if not out:
        raise bad(f"needs at least one name, got {value!r}")
    return ",".join(out)


def name(value: str) -> str:
    """type=: one non-empty name."""
    if not value.strip():
        raise bad(f"needs a name, got {value!r}")
    return value.strip()


def modes(value: str) -> str:
    """type=: comma-separated modes of MODES, returned in MODES' order with `forward` first (the others are checked
    only on a passing forward, so it always runs)."""
    chosen = names(value).split(",")
    unknown = [m for m in chosen if m not in MODES]
    if unknown:
        raise bad(f"unknown mode {shown(unknown[0])}; accepted: {', '.join(MODES)}")
    return ",".join(m for m in MODES if m == "forward" or m in chosen)


def rank_range(value: str) -> str:
    """type=: ranks `A-B` (1 <= A <= B <= 100000), the seed's `--popularity-rank 1-50`; returned as "A-B"."""
    found = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
    if not found or not 1 <= int(found[1]) <= int(found[2]) <= 100000:
        raise bad(f"must be ranks A-B with 1 <= A <= B <= 100000, got {shown(value)}")
    return f"{int(found[1])}-{int(found[2])}"


def priority(value: str) -> str:
    """type=: a --priority tier (hwcov.orchestration.ci.PRIORITIES; that module imports no Dagster at load)."""
    from hwcov.orchestration.ci import PRIORITIES

    if value not in PRIORITIES:
        raise bad(f"must be one of {', '.join(PRIORITIES)}, got {shown(value)}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse, except that a bad command line is a UsageError (one line, exit 2 in main), not usage + exit."""

    def error(self, message: str):
        found = re.fullmatch(r"argument (\S+?)(?:/\S+)?: (.*)", message, re.DOTALL)
        if found:
            flag, text = found.groups()
            message = f"{flag} {text}" if text.startswith(("must ", "needs ")) else f"{flag}: {text}"
        raise UsageError(f"{message} (see hwcov --help)" if "unrecognized" in message else message)


@dataclass(frozen=True)
class Verb:
    """One action flag and how main() treats it; run(args, hardware, models) -> exit code (None: 0; run None: the
    verb only resolves onto others)."""
    name: str  # the argparse dest: analyze_coverage is --analyze-coverage
    group: str  # a key of GROUPS: where --help lists it
    help: str
    run: Callable[..., int | None] | None
    needs_output: bool = False  # refused without --output
    sweeps: bool = True  # --hardware/--all with it runs the pipeline first (False: --hardware filters or targets)
    reads_db: bool = True  # False: it creates the database when there is none
    one_model: bool = False  # exactly one --model
    hardware: str = ""  # "one": exactly one --hardware, "some": at least one
    value: str = ""  # a metavar: the verb takes one value (`--add-hardware KEY`), else it is a plain flag
    # the seed's spelling of hwcov's options: rewrites args before validation (`--test-on-hardware K` is
    # `--hardware K`); such a verb may have no run of its own
    resolve: Callable[..., None] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# The --help groups follow the sections of the seed guide (HF_COMPREHENSIVE_TESTING_GUIDE.md), so a user who
# reads a section there finds its verbs together here; the README's table maps every seed command line.
GROUPS = {
    "run": "using hwcov: run (materialize assets on the local Dagster instance; --hardware takes keys, a comma "
           "list or `all`)",
    "database": "database analysis (read the database; --output writes to a file)",
    "results": "analyzing test results",
    "generators": "improving test generators (the template repair loop, from the stored failures)",
    "bench": "performance benchmarking (templates/benchmarks.yaml: the seed's matrix and variants)",
    "optimize": "hardware-specific optimizations (optimization patches: YAML files naming benchmark variants)",
    "advanced": "advanced usage: CI, custom hardware, analysis, extended coverage, schedules",
    "docs": "documentation integration (the installed transformers' docstrings when no docs build is given)",
    "bulk": "automated test generation",
    "profile": "performance profiling and analysis",
    "validation": "cross-platform validation",
    "errors": "error handling and resolution",
    "platforms": "extension to custom hardware platforms",
    "export": "export and inventory",
    "paths": "paths",
}
FLAG = {"action": "store_true"}
# group -> (flags, argparse keywords) of the options that are not verbs, in --help order; a tuple of flags is an
# option with the seed's spelling beside hwcov's (`--models` for `--model`)
OPTIONS: dict[str, list[tuple[str | tuple[str, ...], dict]]] = {
    "run": [
        ("--hardware", {"type": names, "help": "comma-separated hardware keys to run on (e.g. cpu), or all"}),
        (("--all", "--all-hardware"), {**FLAG, "help": "run on every hardware key hwcov has a backend for"}),
        (("--model", "--models"), {"type": names, "help": "comma-separated model types (default: every "
                                   "architecture)"}),
        ("--model-category", {"type": name, "help": "run only this model category (e.g. vision; the seed's names "
                              "such as text-generation are accepted, templates/inventory.yaml category_aliases)"}),
        ("--all-models", {**FLAG, "help": "every architecture of the inventory (what no --model means; refused "
                          "beside --model)"}),
        ("--force", {**FLAG, "help": "rerun cases whose stored result is still valid (the generated tests are "
                     "rebuilt only when templates, transformers or hwcov changed, or with --generate-tests)"}),
        ("--resume", {**FLAG, "help": "continue a long run: keep every stored row, even one made by older code or "
                      "templates (each row names its versions); run only what has none, or crashed or timed out. "
                      "With the benchmark verbs: skip cells already measured"}),
        ("--workers", {"type": number(0, MAX_WORKERS), "default": 0, "help": f"parallel workers, 0-{MAX_WORKERS} "
                       "(default 0: one per CPU core)"}),
        ("--timeout", {"type": number(0, MAX_TIMEOUT_S, "seconds", low_open=True), "default": None,
                       "help": f"seconds per case before it is a timeout, at most {MAX_TIMEOUT_S} (default: the "
                       "hardware's own, hwcov/backends/hardware.py)"}),
        ("--batch-size", {"type": integers(1, MAX_BATCH), "default": "1", "help": "comma-separated batch sizes to "
                          f"run, 1-{MAX_BATCH} (default 1), e.g. 1,2,4,8: "
                          "one run_results materialization per size; rows are kept per (model, precision, batch)"}),
        ("--precision", {"type": name, "default": None, "help": "run only this precision (fp32, fp16, bf16, int8; "
                         "default: each precision the hardware's generated tests declare)"}),
        ("--modes", {"type": modes, "default": ",".join(MODES), "help": "what an exported runtime's case checks "
                     "(onnxruntime, openvino, wasm, webgpu; cpu and torch devices run the forward only): forward "
                     "(always: one forward at the export's shape, every precision), dynamic (the fp32 graph at other "
                     "batch sizes and lengths), generate (greedy decoding with a KV cache, where the architecture has "
                     "a generative head); default all three. `--modes forward` skips the two modes (over the README's "
                     "60-architecture sample, 58% of the onnxruntime cases' time, 60% of openvino's); its rows leave "
                     "the mode columns empty and are kept apart from full rows"}),
        ("--port", {"type": number(1, 65535), "default": 3000, "help": "for --ui: the port the Dagster UI listens on "
                    "(127.0.0.1), 1-65535 (default 3000)"}),
        ("--trust-remote-code", {**FLAG, "help": "with --checkpoint: let a checkpoint whose config names its own code "
                                 "(auto_map) run it; off by default, and each row records which"}),
        ("--generate-tests", {**FLAG, "help": "only refresh the inventory and regenerate tests"}),
        ("--expand-hf-models", {**FLAG, "help": "the seed's name for it: take every architecture of the installed "
                                "transformers into the inventory and (re)generate their tests; with --hardware, run "
                                "them too"}),
    ],
    "generators": [
        ("--modality", {"type": name, "help": "for --update-modality-templates: a modality of the inventory (text, "
                        "vision, audio, multimodal, ...)"}),
        ("--family", {"type": name, "help": "for --enhance-family-templates: a family of the inventory (masked-lm, "
                      "causal-lm, seq2seq, ...; `transformer` is every family)"}),
        ("--dry-run", {**FLAG, "help": "with --test-generators: render and compile, run no model"}),
    ],
    "optimize": [
        ("--input", {"help": "the folder --apply-optimization-patches / --apply-optimizations read patches from "
                     "(default optimization_patches/), and --test-model-subset its subsets (default model_subsets/)"}),
    ],
    "advanced": [
        ("--ci-mode", {**FLAG, "help": "run --priority on the hardware present (or --hardware); exit 1 on "
                       "regressions"}),
        ("--priority", {"type": priority, "default": "high", "help": "for --ci-mode and --generate-ci-config: "
                        "highest (seed phase 1), high (phases 1-2), medium, all (default high)"}),
        ("--generate-ci-config", {**FLAG, "help": "write a CI workflow running --ci-mode to --output"}),
        ("--config", {"help": "for --define-custom-hardware / --use-custom-hardware: platform JSON whose `name` "
                      "is the key"}),
        ("--screenshots", {**FLAG, "help": "with --generate-dashboard: also a PNG of every page in "
                           "<output>/screenshots (headless Chromium)"}),
        ("--test-by-popularity", {**FLAG, "help": "run the --top N most downloaded architectures "
                                  "(templates/popularity.yaml, dated, source named) on --hardware (default cpu)"}),
        ("--top", {"type": number(1, 1000), "default": 10, "help": "how many for --test-by-popularity, 1-1000 "
                  "(default 10)"}),
        ("--generate-schedule-config", {**FLAG, "help": "write the default schedule config (the seed's "
                                        "daily/weekly/monthly) to --output"}),
        ("--schedule", {"help": "for --run-scheduled-tests: a schedule config (default ./schedule.json)"}),
    ],
    "docs": [
        ("--docs-path", {"help": "a transformers docs build (its model_doc/*.md); absent: the installed package's "
                         "docstrings"}),
        ("--tests-path", {"help": "for --validate-against-docs: the folder of generated tests to check"}),
    ],
    "bulk": [
        ("--category", {"type": name, "help": "for --bulk-generate-tests: a model category (seed names accepted)"}),
        ("--popularity-rank", {"type": rank_range, "help": "for --bulk-generate-tests: ranks A-B of "
                               "templates/popularity.yaml"}),
        ("--output-dir", {"help": "where --bulk-generate-tests / --generate-from-docs write tests (default: "
                          "--generated-dir)"}),
    ],
    "profile": [
        ("--dashboard-path", {"help": "for --update-dashboard: the dashboard folder (default dashboard/)"}),
    ],
    "errors": [
        ("--name", {"type": name, "help": "for --add-error-pattern: the pattern's name"}),
        ("--solution", {"type": name, "help": "for --add-error-pattern: the template fix, in words"}),
        ("--regex", {"type": name, "help": "for --add-error-pattern: the messages it matches (default: learnt "
                     "from the stored failures of --models)"}),
        ("--pattern", {"type": name, "help": "for --fix-error-pattern: a catalog pattern's name"}),
        ("--template-file", {"help": "for --fix-error-pattern: the template you edited (under templates/)"}),
        ("--error-pattern", {"type": name, "help": "for --regenerate-tests: a catalog pattern's name"}),
    ],
    "platforms": [
        ("--define-hardware", {"type": name, "metavar": "KEY",
                               "help": "add a hardware platform from --properties FILE.json"}),
        ("--properties", {"help": "platform JSON in the seed's format (for --define-hardware)"}),
    ],
    "bench": [
        ("--batch-sizes", {"type": integers(1, MAX_BATCH), "help": f"comma-separated batch sizes, 1-{MAX_BATCH} "
                           "(default: the hardware's matrix; profiles: 1)"}),
        ("--seq-lens", {"type": integers(1, MAX_SEQ_LEN), "help": f"comma-separated sequence lengths, 1-{MAX_SEQ_LEN} "
                        "(default: the matrix; profiles: 128)"}),
        ("--precisions", {"type": names, "help": "comma-separated precisions (default: the hardware's matrix; "
                          "profiles: fp32)"}),
        ("--min-duration", {"type": number(0, 3600, "seconds", low_open=True), "default": 1.0,
                           "help": "seconds each timed cell runs at least, at most 3600 (default 1.0)"}),
        ("--full-matrix-models", {"type": number(0, 100000), "default": None, "help": "how many architectures (by "
                                  "priority), 0-100000, get every batch x sequence cell; the rest get the first "
                                  "batch and sequence only (default: 30, or every --model given)"}),
    ],
    "export": [
        ("--format", {"default": "csv", "help": f"export format: {', '.join(EXPORT_FORMATS)} (default csv)"}),
        ("--output", {"help": "output file (or folder for --create-model-subsets, --diagnostics)"}),
    ],
    "paths": [
        ("--db-path", {"help": "DuckDB file (default ./benchmark_db.duckdb or $HWCOV_DB_PATH)"}),
        ("--generated-dir", {"help": "where generated tests go (default ./generated_tests or $HWCOV_GENERATED_DIR)"}),
    ],
}


def plain(text: str) -> str:
    """Help text as written: argparse %-formats help strings, so "10% slower" would print its internal dict."""
    return text.replace("%", "%%")


def build(verbs: Sequence[Verb]) -> argparse.ArgumentParser:
    """The parser: per group of GROUPS, its verbs (in declaration order), then its other options."""
    p = Parser(
        prog="hwcov", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Which HuggingFace Transformers architectures run on which hardware, measured for real.")
    unknown = sorted({v.group for v in verbs} - set(GROUPS))
    if unknown:
        raise ValueError(f"verbs declared in unknown group(s) {', '.join(unknown)}")
    for key, title in GROUPS.items():
        group = p.add_argument_group(title)
        for verb in verbs:
            if verb.group == key:
                kind = {"type": name, "metavar": verb.value, "default": None} if verb.value else FLAG
                group.add_argument(verb.flag, dest=verb.name, help=plain(verb.help), **kind)
        for flags, kwargs in OPTIONS.get(key, []):
            group.add_argument(*([flags] if isinstance(flags, str) else flags), **{**kwargs,
                                                                                  "help": plain(kwargs["help"])})
    return p
