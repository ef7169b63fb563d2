"""Longest-first case order (#27): estimates from this hardware's journal, else an exported runtime's beside it, never
a torch backend's; the median for cases never run; the inventory's order when nothing is known."""
from hwcov.run.journal import ResultJournal
from hwcov.run.order import longest_first


def _journal(root, hardware, walls: dict):
    journal = ResultJournal(root, hardware)
    for model, seconds in walls.items():
        journal.append({"model_type": model, "precision": "fp32", "batch_size": 1, "wall_time_s": seconds})


def _queued(*models):
    return [({"model_type": m}, f"key-{m}", "fp32") for m in models]


def test_cases_run_longest_first_by_their_own_then_a_neighbouring_runtimes_walls(tmp_path):
    _journal(tmp_path, "openvino", {"a": 5.0, "b": 50.0})
    _journal(tmp_path, "onnxruntime", {"a": 500.0, "c": 100.0})  # a: openvino's own 5 s wins
    _journal(tmp_path, "cpu", {"d": 1000.0})  # a forward's cost: no hint for an export
    order = [t[0]["model_type"] for t in longest_first(_queued("a", "b", "c", "d", "e"), tmp_path, "openvino")]
    assert order == ["c", "b", "d", "e", "a"]  # d, e never exported: the median (50 s), after b, queued order kept


def test_with_nothing_known_the_queued_order_stands(tmp_path):
    _journal(tmp_path, "cpu", {"a": 1.0, "b": 9.0})
    _journal(tmp_path, "no_such_hardware", {"b": 99.0})  # a stale journal of a hardware no longer known
    queued = _queued("a", "b", "c")
    assert longest_first(queued, tmp_path, "onnxruntime") == queued
