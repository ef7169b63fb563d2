"""The full CPU sweep over every architecture (slow: run with `pytest -m slow`)."""
import pytest

from hwcov import generate, sweep
from hwcov.runner import Limits

pytestmark = pytest.mark.slow


def test_full_cpu_sweep(archs, tmp_path):
    tests = generate.generate(list(archs.values()), tmp_path / "gen")
    rows = sweep.sweep(tests, "cpu", tmp_path / "art", limits=Limits(workers=2), progress=False, log=print)
    assert sorted(r["model_type"] for r in rows) == sorted(archs)
    passed = sum(r["status"] == "pass" for r in rows)
    assert passed >= 0.80 * len(archs), f"{passed}/{len(archs)} pass"
    for r in rows:
        if r["status"] != "pass":
            assert r["status"] and r["error_message"] and (r["error_pattern"] or r["status"] == "skipped_known"), r
