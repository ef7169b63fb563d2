"""The seed's schedule config (JSON): parsed and validated field by field, turned into cron specs.

    {"daily_tests": {"model_subset": "high_priority", "hardware_platforms": ["cpu", "cuda"],
                     "run_time": "01:00", "notification_email": "...", "generate_report": false}, ...}

run_time: "HH:MM" (daily), "<Weekday> HH:MM" (weekly), "<Nth> HH:MM" (monthly, e.g. "1st 03:00").
model_subset: "all", "high_priority" (seed phases 1-2) or a model category.
hardware_platforms: a list of hardware keys, or "all".
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hwcov.core.errors import ConfigError

SCHEDULE_ENV = "HWCOV_SCHEDULE_CONFIG"
DEFAULT_FILE = "schedule.json"
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}\Z")

DEFAULT_CONFIG = {
    "daily_tests": {"model_subset": "high_priority", "hardware_platforms": ["cpu", "cuda"], "run_time": "01:00",
                    "notification_email": "", "generate_report": False},
    "weekly_tests": {"model_subset": "all", "hardware_platforms": ["cpu", "cuda", "rocm", "openvino"],
                     "run_time": "Saturday 02:00", "notification_email": "", "generate_report": True},
    "monthly_tests": {"model_subset": "all", "hardware_platforms": "all", "run_time": "1st 03:00",
                      "notification_email": "", "generate_report": True, "update_dashboard": True},
}


class ScheduleError(ConfigError):
    """A schedule config that cannot be used; the message names the file, entry and field."""


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    cron: str
    hardware: tuple[str, ...]
    max_priority: int  # 0: every priority
    category: str  # '' = every category
    notification_email: str
    generate_report: bool
    update_dashboard: bool


def cron_for(run_time: str, where: str) -> str:
    m = re.fullmatch(r"(?:(\w+)\s+)?(\d{1,2}):(\d{2})", run_time.strip())
    if not m or int(m.group(2)) > 23 or int(m.group(3)) > 59:
        raise ScheduleError(f"{where}.run_time {run_time!r}: expected 'HH:MM', 'Saturday HH:MM' or '1st HH:MM'")
    day, hour, minute = m.group(1), int(m.group(2)), int(m.group(3))
    if day is None:
        return f"{minute} {hour} * * *"
    if day.lower() in WEEKDAYS:
        return f"{minute} {hour} * * {WEEKDAYS.index(day.lower())}"
    nth = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)", day.lower())
    if nth and 1 <= int(nth.group(1)) <= 28:
        return f"{minute} {hour} {int(nth.group(1))} * *"
    raise ScheduleError(f"{where}.run_time {run_time!r}: day must be a weekday or 1st..28th")


def parse(config, where: str, hardware_keys: tuple[str, ...], categories: tuple[str, ...]) -> list[ScheduleSpec]:
    if not isinstance(config, dict) or not config:
        raise ScheduleError(f"{where}: expected a JSON object of named schedules")
    specs = []
    for name, entry in config.items():
        at = f"{where}: {name}"
        if not NAME_RE.match(name):
            raise ScheduleError(f"{at}: schedule name must match {NAME_RE.pattern}")
        if not isinstance(entry, dict):
            raise ScheduleError(f"{at}: expected an object, got {type(entry).__name__}")
        unknown = set(entry) - {"model_subset", "hardware_platforms", "run_time", "notification_email",
                                "generate_report", "update_dashboard"}
        if unknown:
            raise ScheduleError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        for field in ("model_subset", "hardware_platforms", "run_time"):
            if field not in entry:
                raise ScheduleError(f"{at}: missing required field '{field}'")
        subset = entry["model_subset"]
        if subset not in ("all", "high_priority") + categories:
            raise ScheduleError(f"{at}.model_subset {subset!r}: accepted: all, high_priority, {', '.join(categories)}")
        hw = entry["hardware_platforms"]
        if hw == "all":
            hw = list(hardware_keys)
        if not isinstance(hw, list) or not hw or any(h not in hardware_keys for h in hw):
            raise ScheduleError(f"{at}.hardware_platforms {hw!r}: a list of {', '.join(hardware_keys)} or \"all\"")
        if not isinstance(entry["run_time"], str):
            raise ScheduleError(f"{at}.run_time must be a string")
        email = entry.get("notification_email", "")
        if not isinstance(email, str) or (email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email)):
            raise ScheduleError(f"{at}.notification_email {email!r} is not an email address")
        flags = {}
        for flag in ("generate_report", "update_dashboard"):
            flags[flag] = entry.get(flag, False)
            if not isinstance(flags[flag], bool):
                raise ScheduleError(f"{at}.{flag} must be true or false")
        specs.append(ScheduleSpec(name, cron_for(entry["run_time"], at), tuple(hw),
                                  2 if subset == "high_priority" else 0, subset if subset in categories else "",
                                  email, **flags))
    return specs


def config_path() -> Path:
    return Path(os.environ.get(SCHEDULE_ENV, DEFAULT_FILE)).resolve()


def load(hardware_keys: tuple[str, ...], categories: tuple[str, ...]) -> list[ScheduleSpec]:
    """The schedule file if present (or named by $HWCOV_SCHEDULE_CONFIG), else the seed's defaults."""
    path = config_path()
    if not path.exists():
        if os.environ.get(SCHEDULE_ENV):
            raise ScheduleError(f"{path}: no such schedule file (from ${SCHEDULE_ENV})")
        return parse(DEFAULT_CONFIG, "default schedule", hardware_keys, categories)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScheduleError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    return parse(config, str(path), hardware_keys, categories)


def write_default(path: Path) -> Path:
    path.write_text(json.dumps(DEFAULT_CONFIG, indent=2) + "\n", encoding="utf-8")
    return path
