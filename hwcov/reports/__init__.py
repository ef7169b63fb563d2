"""reports: coverage report, analysis, dashboard, diagnostics, notifications."""
