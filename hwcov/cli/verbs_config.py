"""The verbs that write configuration instead of running: --generate-schedule-config, --define-hardware,
--generate-ci-config. Each writes one file and says where; a bad file or option is a UsageError/ConfigError.
"""
from __future__ import annotations

from pathlib import Path

from hwcov.core.errors import UsageError

CI_WORKFLOW = """# Written by `hwcov --generate-ci-config`: install hwcov and fail on coverage regressions.
name: hwcov
on:
  push:
  schedule:
    - cron: "0 1 * * *"
jobs:
  hwcov:
    runs-on: ubuntu-latest
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Set up hwcov (chromium, venv with pinned CPU torch, onnxruntime-web)
        run: sudo bash .ci/setup
      - name: Highest-priority architectures on the hardware present
        env:
          HF_HUB_OFFLINE: "1"
        run: . .venv/bin/activate && hwcov --ci-mode --priority {priority}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: hwcov-results
          path: |
            benchmark_db.duckdb
            .hwcov/coverage_report.md
"""


def write_schedule_config(args) -> int:
    from hwcov.core import schedule_config as schedules

    if not args.output:
        raise UsageError("--generate-schedule-config needs --output (e.g. schedule.json)")
    path = schedules.write_default(Path(args.output))
    print(f"schedule config written to {path}; the Dagster definitions read ./{schedules.DEFAULT_FILE} "
          f"or ${schedules.SCHEDULE_ENV}")
    return 0


def define_hardware(args) -> None:
    from hwcov.backends import platforms
    from hwcov.backends.registry import HARDWARE

    if not args.properties:
        raise UsageError("--define-hardware needs --properties FILE.json")
    key = args.define_hardware
    if key in HARDWARE:  # the seed's own example defines qualcomm, which hwcov has built in
        platform = platforms.load_file(Path(args.properties))
        print(f"'{key}' is built in (hwcov/backends/hardware.py): {args.properties} is valid "
              f"({platform.platform_name}, {platform.backend_type}, {', '.join(platform.supported_precisions)}) and "
              f"was not defined over it; run it with `hwcov --hardware {key}`, or give the file another platform_key "
              "to add a platform of your own")
        return
    target = platforms.define(key, Path(args.properties), reserved=HARDWARE)
    print(f"hardware platform '{key}' defined in {target}; run it with: hwcov --hardware {key}")


def write_ci_config(args) -> int:
    if not args.output:
        raise UsageError("--generate-ci-config needs --output (e.g. .github/workflows/hwcov.yml)")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(CI_WORKFLOW.replace("{priority}", args.priority), encoding="utf-8")
    print(f"CI workflow written to {output}")
    return 0
