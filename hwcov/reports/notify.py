"""Run notifications by email over SMTP (the schedule config's notification_email).

Settings from the environment: HWCOV_SMTP_HOST (required to send), HWCOV_SMTP_PORT (25),
HWCOV_SMTP_FROM (hwcov@localhost), HWCOV_SMTP_USER / HWCOV_SMTP_PASSWORD (optional, with STARTTLS).
"""
from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage


def send(to: str, subject: str, body: str) -> bool:
    """Send one mail; False (and nothing sent) when no SMTP host is configured."""
    host = os.environ.get("HWCOV_SMTP_HOST")
    if not host:
        return False
    msg = EmailMessage()
    msg["From"] = os.environ.get("HWCOV_SMTP_FROM", "hwcov@localhost")
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(host, int(os.environ.get("HWCOV_SMTP_PORT", "25")), timeout=30) as smtp:
        if os.environ.get("HWCOV_SMTP_USER"):
            smtp.starttls()
            smtp.login(os.environ["HWCOV_SMTP_USER"], os.environ.get("HWCOV_SMTP_PASSWORD", ""))
        smtp.send_message(msg)
    return True


def run_summary(run, status: str, db_path) -> tuple[str, str]:
    """Subject and body for a finished hardware run, with its partition's status counts."""
    from hwcov.store import database as store

    hw = run.tags.get("dagster/partition", "?")
    counts = []
    try:
        with store.connect(db_path, read_only=True, wait_s=30) as con:
            counts = con.execute("SELECT status, count(*) FROM hwcov.run_results WHERE hardware = ? "
                                 "GROUP BY 1 ORDER BY 2 DESC", [hw]).fetchall()
    except Exception as exc:  # noqa: BLE001 - the mail still goes out, saying what it could not read
        counts = [("(results unreadable)", str(exc).splitlines()[0])]
    lines = [f"hwcov run {run.run_id} on {hw}: {status}", f"schedule: {run.tags.get('hwcov/schedule', 'manual')}", ""]
    lines += [f"{s}: {n}" for s, n in counts]
    return f"[hwcov] {hw} {status}", "\n".join(lines)
