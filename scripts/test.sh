#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Extra arguments go to pytest, e.g. -m "not slurm".
# The slurm-marked tests start a local Slurm cluster when run as root with apt (tests/slurm/cluster.sh);
# elsewhere they are skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# The environment doctor: WARN (no GPU, no pyxis on a CPU machine) passes, any FAIL stops CI.
.venv/bin/python -m recipes.doctor || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests (exit 5): treating as a failure" >&2
  exit 1
fi
exit "$status"
