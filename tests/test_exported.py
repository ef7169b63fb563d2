"""The exported backends' shared run loop: how a row reports routes that all failed."""
from hwcov.backends.exported import routes_agree


def acc(diff):
    return {"status": "fail_accuracy", "max_abs_diff": diff}


def test_routes_agreeing_on_the_same_wrong_output_point_at_the_reference():
    assert routes_agree([acc(2.0184707), acc(2.0184708), acc(2.0184706)])
    assert not routes_agree([acc(2.0), acc(0.5)])  # they disagree: a route's own error
    assert not routes_agree([acc(2.0)])  # one route proves nothing
    assert not routes_agree([acc(2.0), {"status": "fail_to_run", "max_abs_diff": None}])
    assert not routes_agree([acc(float("inf")), acc(float("inf"))])  # shape or NaN: not a value disagreement
