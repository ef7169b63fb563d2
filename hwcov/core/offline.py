"""hwcov never contacts a host beyond this machine: the switches that keep the libraries it loads offline and
quiet, in force before any of them is imported (each reads its own once, at import).

huggingface_hub/transformers: offline (no Hub request) and no telemetry; ONNX Runtime's native 1DS telemetry
(ORT_DISABLE_TELEMETRY, read when the library loads: disable_telemetry_events() alone does not stop its upload);
DO_NOT_TRACK for the rest. OpenVINO's telemetry ignores all of these: hwcov/backends/openvino.py declines it.
tests/core/test_offline.py runs real sweeps under strace and fails on any lookup or connection off loopback.
"""
from __future__ import annotations

import os
import sys

NO_TELEMETRY_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "ORT_DISABLE_TELEMETRY": "1",
                    "DO_NOT_TRACK": "1", "DAGSTER_DISABLE_TELEMETRY": "1"}


def no_telemetry() -> None:
    """NO_TELEMETRY_ENV in this process and every child; huggingface_hub, when imported already, told directly
    (its module constants were read from the environment before this ran)."""
    os.environ.update(NO_TELEMETRY_ENV)
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:
        hub.HF_HUB_OFFLINE = hub.HF_HUB_DISABLE_TELEMETRY = True
