"""hwcov's errors: one small hierarchy, so the cli maps every user-facing one to a line and exit code 2.

Library code raises these (never SystemExit); only hwcov.cli decides how a process ends.
"""
from __future__ import annotations


class HwcovError(Exception):
    """Base of every error hwcov raises on purpose."""


class UsageError(HwcovError):
    """Bad user input (an option, a file, a stored value): reported as one line, exit code 2."""


class ConfigError(UsageError, ValueError):
    """A configuration file (platform JSON, schedule config, template drop-in) that can't be used as written."""
