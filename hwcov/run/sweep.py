"""Run generated test files on one hardware: reuse unchanged results, isolate the rest.

Each generated file is imported and its test class's `evaluate()` runs in a forked
worker, so the sweep executes exactly what `pytest <file>` executes.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hwcov.backends.registry import get_backend
from hwcov.cases.case import STATUSES, base_row
from hwcov.core.paths import code_digest
from hwcov.core.schema import EXTRA_MODES
from hwcov.run import patterns
from hwcov.run.journal import ResultJournal
from hwcov.run.order import longest_first
from hwcov.run.runner import Again, Limits, run_isolated, start_server

RERUN_ON_RESUME = ("crash", "timeout")  # outcomes of the machine as much as of the case
# The packages a result depends on (case building, export, every backend, the test mixin): globbed, so a moved
# or added module counts without anyone listing it.
ENGINE_PACKAGES = ("models", "export", "backends", "cases")


@functools.cache
def engine_digest() -> str:
    """hwcov's own code results depend on (case building, validation, export, every backend): a fix
    there reruns the cases it could change instead of reusing their old rows."""
    return code_digest(*ENGINE_PACKAGES)[:12]


GENERATED_PREFIX = "hwcov_generated."  # generated test modules are imported under this name, once a process


def unload_generated() -> None:
    """Forget every imported generated test (a template change rewrote them: the next load reads the new file)."""
    for name in [n for n in sys.modules if n.startswith(GENERATED_PREFIX)]:
        del sys.modules[name]


def load_module(path: str):
    name = f"{GENERATED_PREFIX}{Path(path).stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def test_class(module):
    from hwcov.cases.testing import ArchCaseTests

    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ArchCaseTests) and value is not ArchCaseTests:
            return value
    raise LookupError(f"{module.__name__} defines no ArchCaseTests subclass")


def result_key(content_hash: str, hardware: str, precision: str, batch: int, versions: str,
               limits: Limits | None = None, modes=EXTRA_MODES) -> str:
    """Everything an outcome depends on; the memory cap and timeout too, since they decide oom/timeout, and the
    modes checked when fewer than all (a forward-only row is no answer to a run that wants the modes; the full set
    adds nothing, so the keys rows had before `--modes` still match)."""
    bounds = f"{limits.memory_mb}MB/{limits.timeout_s}s" if limits else ""
    narrowed = [] if set(EXTRA_MODES) <= set(modes) else [f"modes {','.join(modes) or 'forward'}"]
    blob = "|".join([content_hash, hardware, precision, str(batch), versions, bounds, *narrowed])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _finish(row: dict, key: str, test: dict) -> dict:
    if row["status"] not in STATUSES:  # one vocabulary everywhere: an engine bug, not a result
        raise ValueError(f"{test['model_type']}: status {row['status']!r} is not one of {STATUSES}")
    row["case_key"] = key
    row["test_hash"] = test["content_hash"]
    row["error_pattern"] = patterns.classify(row["status"], row.get("error_message", ""))
    return row


def declared_precisions(test: dict, hardware: str) -> tuple[str, ...]:
    """The precisions the generated test declares for `hardware` (its PRECISIONS, from the hardware
    templates), reference precision first: what `pytest <file> --hardware <hw>` runs."""
    return tuple(test_class(load_module(test["path"])).precisions.get(hardware, ("fp32",)))


def sweep(tests: list[dict], hardware: str, artifacts: Path, *, precision: str | None = "fp32", batch: int = 1,
          force: bool = False, limits: Limits | None = None, progress: bool = True, resume: bool = False,
          log: Callable[[str], None] = print, modes=EXTRA_MODES) -> list[dict]:
    """Rows for `tests` (dicts with model_type, path, content_hash) on one hardware; an exported runtime's fp32
    forward passes are also checked in `modes` (dynamic shapes, generation: hwcov.backends.exported.check_modes).

    `precision=None` runs every precision each test declares for the hardware: its first (fp32) for every
    test, then the others (fp16, int8 ...) for the tests whose first passed here, since a failure at the
    reference precision already says why a lower one can't run."""
    backend = get_backend(hardware)
    limits = limits or Limits()
    # Cheap: the probe (which may import torch) waits until there is work.
    versions = f"{backend.versions()}; hwcov engine {engine_digest()}"
    journal = ResultJournal(artifacts, hardware)
    known = {} if force else journal.by_key()
    if resume and not force:  # a long sweep continued across code changes: what has an outcome stays
        for row in journal.latest_by_case().values():
            if row.get("status") not in RERUN_ON_RESUME and row.get("case_key"):
                known.setdefault(("resume",) + (row["model_type"], row["precision"], row["batch_size"]), row)
    plans = {t["model_type"]: (precision,) if precision else declared_precisions(t, hardware) for t in tests}
    state = {"probe": None}
    rows = _run_phase([(t, plans[t["model_type"]][0]) for t in tests], hardware, artifacts, batch, versions,
                      known, journal, backend, limits, progress, log, state, modes)
    passed = {r["model_type"] for r in rows if r["status"] == "pass"}
    later = [(t, p) for t in tests if t["model_type"] in passed for p in plans[t["model_type"]][1:]]
    _withdraw_lower_precisions(journal, rows, plans, batch, passed)
    if later:
        rows += _run_phase(later, hardware, artifacts, batch, versions, known, journal, backend, limits,
                           progress, log, state, modes)
    return rows


def _withdraw_lower_precisions(journal: ResultJournal, rows: list[dict], plans: dict, batch: int,
                               passed: set) -> None:
    """A lower precision runs only where the reference precision passes: where it no longer does, an earlier
    lower-precision row (a pass, say) would otherwise stand beside the failure, kept from the journal."""
    standing = journal.latest_by_case()
    for row in rows:
        model = row["model_type"]
        if model in passed:
            continue
        for precision in plans[model][1:]:
            if (model, precision, batch) in standing:
                journal.withdraw(model, precision, batch, f"{row['precision']} is {row['status']} here now")


def _run_phase(cases: list[tuple[dict, str]], hardware: str, artifacts: Path, batch: int, versions: str,
               known: dict, journal: ResultJournal, backend, limits: Limits, progress: bool,
               log: Callable[[str], None], state: dict, modes=EXTRA_MODES) -> list[dict]:
    rows, todo = [], []
    for test, precision in cases:
        key = result_key(test["content_hash"], hardware, precision, batch, versions, limits, modes)
        stored = known.get(key) or known.get(("resume", test["model_type"], precision, batch))
        if stored:
            rows.append(stored)
        else:
            todo.append((test, key, precision))
    what = ",".join(sorted({p for _, p in cases}))
    if not todo:
        log(f"{hardware} {what}: all {len(rows)} results unchanged, reused")
        return rows
    probe = state["probe"] = state["probe"] or backend.probe()
    log(f"{hardware} {what}: {len(rows)} unchanged results reused, {len(todo)} to run "
        f"({probe.device_name or probe.error})")
    if not probe.available:
        for test, key, precision in todo:  # cheap and truthful: no model is built for absent hardware
            cls = test_class(load_module(test["path"]))
            row = base_row(cls.case, hardware, precision, batch)
            row.update(status="unavailable", error_message=probe.error, runtime_version=versions)
            rows.append(_finish(row, key, test))
            journal.append(rows[-1])
        return rows
    start_server(limits.start)  # already running when the caller started it early
    reference_dir = Path(artifacts) / "reference"
    todo = longest_first(todo, artifacts, hardware)

    def on_result(task, result: dict, seconds: float):
        test, key, precision, *again = task
        rerun = again[0] if again else Rerun(modes=tuple(modes))
        if result.get("died_in"):  # measure the case again without the mode or route that killed its worker
            return Again((test, key, precision, rerun.without(result, seconds)))
        row = base_row(test_class(load_module(test["path"])).case, hardware, precision, batch)
        row.update(result)
        row.update(rerun.verdicts)  # the verdict of a mode that killed an earlier try of this case
        row["wall_time_s"] = round(seconds + rerun.spent_s, 3)
        rows.append(_finish(row, key, test))
        journal.append(rows[-1])
        return None

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"{hardware} {what} sweep", unit="case", file=sys.stderr)
    if not limits.log_path:
        limits.log_path = str(Path(artifacts) / "logs" / f"{hardware}.log")
    try:
        run_isolated(todo, functools.partial(evaluate, hardware, batch, reference_dir, modes), on_result, limits,
                     progress=bar)
    finally:
        if bar is not None:
            bar.close()
    return rows


def evaluate(hardware: str, batch: int, reference_dir: Path, modes: tuple, task: tuple) -> dict:
    """One case, in its worker: the generated test's `evaluate()` (module level, so a fork server's child can be
    handed it); a rerun's task (a Rerun after the usual three) leaves out the modes and routes that killed earlier
    tries."""
    from hwcov.core.limits import skip_routes

    test, _, precision, *again = task
    skip_routes(again[0].skipped_routes if again else {})
    modes = again[0].modes if again else modes
    return test_class(load_module(test["path"])).evaluate(hardware, precision, batch, reference_dir, modes=modes)


@dataclass(frozen=True)
class Rerun:
    """A case run again after a native crash, the kernel's OOM killer or a hang killed its worker in one stage: the
    modes left to run, the routes left out (with why), the dead modes' verdicts for the row, the seconds already
    spent. The row's key stays the run's, so a resumed sweep reuses the row and does not run the crash again."""
    modes: tuple = ()
    skipped_routes: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    spent_s: float = 0.0

    def without(self, result: dict, seconds: float) -> Rerun:
        kind, name = result["died_in"].split(" ", 1)
        what = f"the case's worker died in the {name} {kind} ({result.get('error_message', '')})"
        spent = self.spent_s + seconds
        if kind == "mode":
            verdict = {f"{name}_status": result["status"],
                       f"{name}_message": f"{what}; the forward and any other mode were measured again without it"}
            return Rerun(tuple(m for m in self.modes if m != name), self.skipped_routes, {**self.verdicts, **verdict},
                         spent)
        return Rerun(self.modes, {**self.skipped_routes, name: f"{what}; the case ran again without it"},
                     self.verdicts, spent)

    def __str__(self) -> str:
        left = [f"modes {','.join(self.modes) or 'forward only'}"] + [f"without {r}" for r in self.skipped_routes]
        return ", ".join(left)


def assemble(rows: list[dict], journal: ResultJournal, inventory_types: set[str]) -> list[dict]:
    """This run's rows plus the latest earlier row of every other architecture, so a run
    filtered to a few models never drops the partition's other results."""
    fresh = {(r["model_type"], r["precision"], r["batch_size"]) for r in rows}
    kept = [r for k, r in journal.latest_by_case().items() if k not in fresh and k[0] in inventory_types]
    return rows + kept
