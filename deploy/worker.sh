#!/usr/bin/env bash
# Start this host's Celery worker for one queue (deploy/README.md):
#   deploy/worker.sh cpu|cuda|rocm|mps|openvino|onnxruntime|...   a hardware this host owns: its device steps
#   deploy/worker.sh dagster                                       the orchestrator host's DuckDB writer (exactly one)
# Extra arguments go to `celery worker`. One task at a time, in the worker process itself (--pool=solo): a
# hardware sweep already uses every core (or the one accelerator) and forks its own isolated case workers,
# which a prefork pool's daemonic children may not do; and the writer must stay a single process.
set -euo pipefail
queue="${1:?usage: deploy/worker.sh QUEUE [celery worker args]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
for var in DAGSTER_HOME HWCOV_PG_URL HWCOV_CELERY_BROKER HWCOV_CELERY_BACKEND HWCOV_SHARED_DIR; do
    [ -n "${!var:-}" ] || { echo "worker.sh: set $var (deploy/README.md)" >&2; exit 2; }
done
[ -f "$DAGSTER_HOME/dagster.yaml" ] || { echo "worker.sh: no $DAGSTER_HOME/dagster.yaml (copy deploy/dagster.yaml)" >&2; exit 2; }
export HF_HUB_OFFLINE=1
if [ "$queue" != dagster ] && [ -z "${HWCOV_WORKER_SKIP_PROBE:-}" ]; then
    # Serve a hardware queue only where its backend finds the device: elsewhere every case would be
    # recorded `unavailable` for a device that exists on another host.
    python - "$queue" <<'PY'
import sys

from hwcov.backends.registry import all_hardware, get_backend

hw = sys.argv[1]
if hw not in all_hardware():
    sys.exit(f"worker.sh: unknown hardware {hw!r}; known: {', '.join(all_hardware())}")
probe = get_backend(hw).probe()
if not probe.available:
    sys.exit(f"worker.sh: {hw} is not available on this host: {probe.error}")
PY
fi
exec dagster-celery worker start -A dagster_celery.app -y "$here/celery.yaml" -q "$queue" -n "$queue" \
    -- --pool=solo "$@"
