"""The shared machinery every generated test file uses (like transformers' common test mixin).

A generated file holds only its architecture's specifics (the CASE and the inputs its
modality and family require); the checks live here, so the sweep and a hand-run
`pytest generated_tests/test_hf_bert.py --hardware cpu` run the same code.
"""
from __future__ import annotations

import pytest

from hwcov.cases.case import ArchCase, execute
from hwcov.core.schema import EXTRA_MODES


class ArchCaseTests:
    case: ArchCase
    precisions: dict = {"cpu": ("fp32",)}
    required_inputs: tuple = ()
    required_any_inputs: tuple = ()
    family_required_inputs: tuple = ()
    batch_size = 1
    modes: tuple = ("forward",)  # the template adds "dynamic" and, for a generative head, "generate"
    _fp32_rows: dict = {}  # (test class, hardware) -> the fp32 row test_forward made: the modes read their columns

    @classmethod
    def input_problem(cls, fed: set, accepted: set) -> str:
        """Why the fed inputs leave out a modality input forward() accepts, or ''. Inputs the model
        doesn't take (a text-to-speech model has no audio input) are not required."""
        required = [k for k in cls.required_inputs + cls.family_required_inputs if k in accepted]
        missing = [k for k in required if k not in fed]
        if missing:
            return f"inputs {sorted(fed)} lack {missing}"
        wanted = set(cls.required_any_inputs) & accepted
        if wanted and not fed & wanted:
            return f"inputs {sorted(fed)} include none of {sorted(wanted)}"
        return ""

    @classmethod
    def evaluate(cls, hardware: str, precision: str = "fp32", batch: int | None = None,
                 reference_dir=None, modes=EXTRA_MODES) -> dict:
        """Execute the case and apply this file's modality/family checks: the sweep calls this too (`modes`: which
        checks beyond the forward an exported runtime runs; `hwcov --modes`)."""
        row = execute(cls.case, hardware, precision, batch or cls.batch_size, reference_dir=reference_dir,
                      modes=modes)
        if row["status"] == "pass":
            from hwcov.models.inventory import forward_inputs

            accepted = set(forward_inputs(cls.case.model_class))
            problem = cls.input_problem(set(filter(None, row["inputs"].split(","))), accepted)
            if problem:
                row.update(status="fail_to_run", error_message=f"modality not exercised: {problem}")
        return row

    def test_forward(self, hwcov_hardware, tmp_path):
        for precision in self.precisions.get(hwcov_hardware, ("fp32",)):
            row = self.evaluate(hwcov_hardware, precision, reference_dir=tmp_path)
            if row["status"] == "skipped_known":
                pytest.skip(f"known skip: {row['error_message']}")
            if row["status"] in ("unavailable", "not_applicable"):
                pytest.skip(f"{row['status']} on {hwcov_hardware}: {row['error_message']}")
            if precision == "fp32":
                ArchCaseTests._fp32_rows[(type(self), hwcov_hardware)] = row
            assert row["status"] == "pass", f"{precision}: {row['status']}: {row['error_message']}"
            assert row["device_name"] and row["runtime_version"] and row["output_checksum"]

    def mode_row(self, mode: str, hardware: str, tmp_path) -> dict:
        """The fp32 row whose `mode` columns a mode test reads (test_forward's, else made now); skips what can't
        be judged: a mode this architecture lacks, a runtime that doesn't measure it, a forward that failed."""
        if mode not in self.modes:
            pytest.skip(f"no {mode} mode for {self.case.model_type} (modes: {', '.join(self.modes)})")
        row = ArchCaseTests._fp32_rows.get((type(self), hardware)) or self.evaluate(hardware, "fp32",
                                                                                    reference_dir=tmp_path)
        if row["status"] != "pass":
            pytest.skip(f"the fp32 forward is {row['status']} on {hardware}: no {mode} check without it")
        status = row.get(f"{mode}_status") or ""
        if not status:
            from hwcov.export.dynamic import ROUTE

            pytest.skip(f"{hardware} does not measure the {mode} mode (the exported runtimes' backends do: "
                        f"{', '.join(sorted(ROUTE))})")
        if status in ("skipped", "not_applicable"):
            pytest.skip(f"{mode} {status}: {row.get(f'{mode}_message', '')}")
        return row

    def test_dynamic_shapes(self, hwcov_hardware, tmp_path):
        row = self.mode_row("dynamic", hwcov_hardware, tmp_path)
        assert row["dynamic_status"] == "pass", \
            f"{row['dynamic_status']} ({row['dynamic_route']}: {row['dynamic_shapes']}): {row['dynamic_message']}"

    def test_generate(self, hwcov_hardware, tmp_path):
        row = self.mode_row("generate", hwcov_hardware, tmp_path)
        assert row["generate_status"] == "pass", f"{row['generate_status']}: {row['generate_message']}"
