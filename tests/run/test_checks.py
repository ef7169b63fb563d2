"""Each asset check passes on good data and fails on a bad frame."""
import pandas as pd

from hwcov.run import checks

GOOD = pd.DataFrame([
    {"model_type": m, "hardware": "cpu", "precision": "fp32", "batch_size": 1, "status": s,
     "device_name": "cpu" if s == "pass" else "", "runtime_version": "torch", "output_checksum": "ab" if s == "pass" else ""}
    for m, s in (("bert", "pass"), ("gpt2", "pass"), ("llava", "fail_to_run"))])


def test_no_duplicate_rows():
    assert checks.no_duplicate_rows(GOOD)[0]
    ok, text, details = checks.no_duplicate_rows(pd.concat([GOOD, GOOD.head(1)]))
    assert not ok and details["duplicates"] == ["bert"] and text.startswith("2 rows")


def test_pass_has_evidence():
    assert checks.pass_has_evidence(GOOD)[0]
    bad = GOOD.copy()
    bad.loc[0, "output_checksum"] = " "
    ok, _, details = checks.pass_has_evidence(bad)
    assert not ok and details["without_evidence"] == ["bert"]


def test_inventory_complete():
    assert checks.inventory_complete(GOOD, {"bert", "gpt2", "llava"})[0]
    ok, _, details = checks.inventory_complete(GOOD, {"bert", "gpt2", "llava", "t5"})
    assert not ok and details == {"cpu": ["t5"]}


def test_pass_rate_not_dropping():
    rates = checks.pass_rates(GOOD)
    assert rates == {"cpu/fp32/1": round(2 / 3, 4)}
    assert checks.pass_rate_not_dropping(rates, {})[0]  # no previous materialization
    assert checks.pass_rate_not_dropping(rates, {"cpu/fp32/1": 0.67})[0]
    ok, _, details = checks.pass_rate_not_dropping(rates, {"cpu/fp32/1": 0.9})
    assert not ok and details["drops"] == {"cpu/fp32/1": round(0.9 - rates["cpu/fp32/1"], 4)}


def test_pass_rates_are_per_precision():
    """fp16 runs only where fp32 passed: its rows may not dilute or inflate the fp32 rate."""
    fp16 = GOOD[GOOD["status"] == "pass"].assign(precision="fp16", status=["pass", "fail_accuracy"])
    rates = checks.pass_rates(pd.concat([GOOD, fp16]))
    assert rates == {"cpu/fp32/1": round(2 / 3, 4), "cpu/fp16/1": 0.5}
