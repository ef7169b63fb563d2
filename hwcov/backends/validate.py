"""Compare a backend's outputs to the CPU fp32 reference with the (hardware, precision) tolerance table."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwcov.backends.hardware import tolerance_key
from hwcov.core import data
from hwcov.models import outputs, signal

TABLE = "tolerances.yaml"  # under the templates in use
# Under a cosine tolerance, an output within this absolute distance of the reference matches outright:
# cosine is undefined for an all-zero output and noise for a near-zero one (tiny mobilevit: max |ref| ~1e-39).
EXACT = 1e-6


@dataclass(frozen=True)
class Tolerance:
    """`max_abs`: an output passes when max |diff| <= min(value, cap * max |reference|) + rel * max |reference|
    (rel scales the bound with the output's magnitude: low precisions err relative to the values they hold; cap
    keeps an absolute bound from dwarfing a small output: 1e-4 on an output of magnitude 1e-6 would pass zeros).
    `cosine`: a float output
    passes when its cosine similarity to the reference >= value, or its max |diff| <= floor (cosine has no
    direction to judge on a near-zero output)."""
    kind: str  # "max_abs" or "cosine"
    value: float
    why: str
    rel: float = 0.0
    floor: float = 0.0
    cap: float = 0.0  # 0: no cap

    def bound(self, ref) -> float:
        """The max |diff| an output with reference values `ref` may reach (max_abs kind)."""
        big = signal.magnitude(ref)
        absolute = min(self.value, self.cap * big) if self.cap else self.value
        return absolute + self.rel * big

    def describe(self) -> str:
        if self.kind == "cosine":
            return f"cosine >= {self.value:g}" + (f" or max |diff| <= {self.floor:g}" if self.floor else "")
        return (f"max_abs {self.value:g}" + (f" (at most {self.cap:g} x max|ref|)" if self.cap else "")
                + (f" + {self.rel:g} x max|ref|" if self.rel else ""))


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail_accuracy
    max_abs_diff: float
    tolerance: float
    message: str = ""
    max_rel_error: float = float("nan")  # max over the judged outputs of max |diff| / max |reference|
    cosine: float = float("nan")  # the lowest cosine similarity over the judged float outputs
    uninformative: str = ""  # the outputs that carry no signal and were not judged (signal.describe)

    def fields(self) -> dict:
        """The row fields every backend's comparison fills."""
        return {"status": self.status, "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "max_rel_error": self.max_rel_error, "cosine": self.cosine,
                "uninformative_outputs": self.uninformative}


def load_table(path: str | None = None) -> dict:
    """The tolerance table: `path`'s, else the templates' tolerances.yaml (a customized copy's where
    $HWCOV_TEMPLATES_DIR names one), read through hwcov.core.data's checked cache like every other template file."""
    return data.read_yaml(Path(path)) if path else data.load(TABLE)


def _entry(spec: dict) -> Tolerance:
    if "cosine" in spec:
        return Tolerance("cosine", float(spec["cosine"]), spec.get("why", ""), floor=float(spec.get("max_abs", 0.0)))
    return Tolerance("max_abs", float(spec["max_abs"]), spec.get("why", ""), rel=float(spec.get("rel", 0.0)),
                     cap=float(spec.get("cap", 0.0)))


def tolerance(hardware: str, precision: str, model_type: str = "", table: dict | None = None) -> Tolerance:
    """The most specific entry: an override for the architecture, the hardware's default, then '*'."""
    table = table or load_table()
    for o in table.get("overrides") or []:
        if o["model_type"] == model_type and o.get("hardware", "*") in (hardware, "*") \
                and o.get("precision", "*") in (precision, "*"):
            return _entry(o)
    defaults = table["defaults"]
    for key in (tolerance_key(hardware), "*"):
        if precision in (defaults.get(key) or {}):
            return _entry(defaults[key][precision])
    raise KeyError(f"no tolerance for ({hardware}, {precision}) in {TABLE}")


def load_reference(path) -> signal.Reference:
    """A stored reference with its record of the outputs that carry no signal (None for one stored before it)."""
    return signal.Reference(*outputs.read_arrays(path))


def no_signal(reference: dict) -> dict[str, str]:
    """{output: why it carries no signal}: as recorded with the reference, else judged from its arrays alone."""
    recorded = getattr(reference, "uninformative", None)
    return signal.uninformative(reference) if recorded is None else recorded


def degenerate(reference: dict) -> str:
    """'' when some output carries signal, else the row's message (the `degenerate_reference` pattern)."""
    skipped = no_signal(reference)
    if signal.informative_names(reference, skipped):
        return ""
    return f"degenerate reference: no output carries signal ({signal.describe(skipped) or 'no numeric output'})"


def compare(reference: dict, result: dict, tol: Tolerance) -> Verdict:
    """Names and shapes first (a mismatch is fail_accuracy saying which), then the outputs that carry signal
    (signal.uninformative; a reference none of whose outputs does can't tell a right graph from a graph of zeros:
    fail_accuracy, the `degenerate_reference` pattern): discrete ones exactly, float ones within the tolerance."""
    import numpy as np

    missing, extra = sorted(set(reference) - set(result)), sorted(set(result) - set(reference))
    if missing or extra:
        return Verdict("fail_accuracy", float("inf"), tol.value,
                       f"output names differ from the reference: missing {missing}, unexpected {extra}")
    for name, ref in reference.items():
        if tuple(ref.shape) != tuple(np.shape(result[name])):
            return Verdict("fail_accuracy", float("inf"), tol.value,
                           f"output '{name}' has shape {tuple(np.shape(result[name]))}, reference {tuple(ref.shape)}")
    skipped = no_signal(reference)
    judged = {n: r for n, r in reference.items() if r.size and n not in skipped}
    uninformative = signal.describe(skipped)
    if degenerate(reference):
        return Verdict("fail_accuracy", float("nan"), tol.value, degenerate(reference), uninformative=uninformative)
    worst, worst_name, cosines, ratios, rel_error = 0.0, "", {}, {}, 0.0
    for name, ref in judged.items():
        ref64, got64 = ref.astype("float64"), np.asarray(result[name]).astype("float64")
        d = float(np.nan_to_num(np.abs(got64 - ref64), nan=np.inf).max())
        if d > worst or not worst_name:
            worst, worst_name = d, name
        if signal.discrete(ref):  # token ids, codes, labels: exact, whatever the precision's tolerance
            bound = 0.0
        else:
            bound = tol.bound(ref64) if np.isfinite(ref64).all() else tol.value
        ratios[name] = (d / bound if bound else (0.0 if d == 0 else np.inf), bound)
        if ref.dtype.kind == "f":
            big = signal.magnitude(ref64)
            rel_error = max(rel_error, d / big if big else np.inf)
            denom = np.linalg.norm(ref64) * np.linalg.norm(got64)
            if np.allclose(got64, ref64, rtol=0, atol=max(EXACT * min(1.0, big), tol.floor)):  # no direction
                cosines[name] = 1.0
            else:
                cosines[name] = float(ref64.ravel() @ got64.ravel() / denom) if denom else 0.0
    extra_fields = {"max_rel_error": rel_error, "cosine": min(cosines.values()) if cosines else float("nan"),
                    "uninformative": uninformative}
    if not np.isfinite(worst):
        got = np.asarray(result[worst_name])
        bad = int(got.size - np.isfinite(got).sum())
        return Verdict("fail_accuracy", worst, tol.value, f"output '{worst_name}' holds NaN or inf ({bad} of "
                       f"{got.size} values) where the reference's are finite (max |reference| "
                       f"{signal.magnitude(reference[worst_name].astype('float64')):.3g})", **extra_fields)
    differs = [n for n, r in judged.items() if signal.discrete(r) and ratios[n][0] > 0]
    if differs:
        name = differs[0]
        off = int((np.asarray(result[name]) != reference[name]).sum())
        return Verdict("fail_accuracy", worst, 0.0, f"discrete output '{name}' differs from the reference in {off} of "
                       f"{reference[name].size} values (ids, codes and labels match exactly)", **extra_fields)
    if tol.kind == "cosine":
        name, low = min(cosines.items(), key=lambda kv: kv[1]) if cosines else ("", 1.0)
        if low >= tol.value:
            return Verdict("pass", worst, tol.value, f"min cosine {low:.5f} >= {tol.value}", **extra_fields)
        return Verdict("fail_accuracy", worst, tol.value, f"cosine of '{name}' {low:.5f} < {tol.value} "
                       f"(max |diff| {worst:.3g} on '{worst_name}'; {tol.describe()}: {tol.why})", **extra_fields)
    name, (ratio, bound) = max(ratios.items(), key=lambda kv: kv[1][0])
    if ratio <= 1.0:
        return Verdict("pass", worst, bound, **extra_fields)
    return Verdict("fail_accuracy", worst, bound,
                   f"max |diff| {float(np.abs(np.asarray(result[name], 'float64') - reference[name]).max()):.3g} "
                   f"on '{name}' > {bound:.3g} ({tol.describe()}: {tol.why})", **extra_fields)
