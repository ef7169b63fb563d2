"""pytest plugin (entry point `hwcov`): the --hardware option generated tests run on."""
from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--hardware", default="cpu",
                     help="hwcov hardware key the generated tests run on (default: cpu)")


@pytest.fixture
def hwcov_hardware(request) -> str:
    return request.config.getoption("--hardware")
