#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Extra arguments go to pytest, e.g. -m "not slurm".
# The slurm-marked tests start a local Slurm cluster when run as root with apt (tests/slurm/cluster.sh);
# elsewhere they are skipped with the reason.
#
# With no test paths among the arguments the suite runs as two pytest processes at once: the launch
# suites (tests/megatron, then tests/slurm: whole training processes, mostly single-threaded Python
# start-up and waits on Slurm) beside the in-process suites (tests/unit). Each keeps its own pytest
# temp root; the Slurm clusters are used by the first process only. The second process prints live,
# the first one's report follows it. TEST_STREAMS=1 runs one pytest process, as do test paths.
set -uo pipefail
cd "$(dirname "$0")/.."
case "${TEST_STREAMS:-2}" in
  1|2) ;;
  *) echo "test.sh: TEST_STREAMS=${TEST_STREAMS}: use 1 (one pytest process) or 2 (the default)" >&2; exit 2 ;;
esac
bash scripts/setup.sh || exit 1
# tiktoken 0.7.0 (nemo_toolkit[nlp]'s pin) beside the installed one, for the fast path's
# differential tests of that version (tests/unit/data/test_fast_bpe.py; not imported otherwise).
TIKTOKEN_07=.venv/engines/tiktoken-0.7.0
[ -d "$TIKTOKEN_07/tiktoken" ] || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
  --target "$TIKTOKEN_07" tiktoken==0.7.0 || exit 1
# The environment doctor: WARN (no GPU, no pyxis on a CPU machine) passes, any FAIL stops CI.
.venv/bin/python -m recipes.doctor || exit 1

# Does the command line name test paths? Options that take a separate value are skipped with it.
has_paths=0
skip_next=0
for arg in "$@"; do
  if [ "$skip_next" -eq 1 ]; then skip_next=0; continue; fi
  case "$arg" in
    -m|-k|-p|-c|-o|-W|--basetemp|--durations|--deselect|--ignore|--ignore-glob|--maxfail|--junitxml|--junit-xml|--rootdir|--tb|--confcutdir|--log-level|--capture|--import-mode|--override-ini)
      skip_next=1 ;;
    -*) ;;
    *) has_paths=1 ;;
  esac
done

verdict() {  # exit status of one pytest process: "no tests collected" (5) is a failure
  if [ "$1" -eq 5 ]; then
    echo "test.sh: pytest collected no tests (exit 5): treating as a failure" >&2
    return 1
  fi
  return "$1"
}

if [ "$has_paths" -eq 1 ] || [ "${TEST_STREAMS:-2}" = "1" ]; then
  .venv/bin/python -m pytest "$@"
  verdict $?
  exit $?
fi

temp=$(mktemp -d "${TMPDIR:-/tmp}/recipes-tests.XXXXXX")
launch_log="$temp/launch-suites.log"
mkdir -p "$temp/launch" "$temp/unit"
echo "test.sh: tests/megatron + tests/slurm run beside tests/unit; their report follows this one ($launch_log)"
PYTEST_DEBUG_TEMPROOT="$temp/launch" .venv/bin/python -m pytest tests/megatron tests/slurm "$@" \
  >"$launch_log" 2>&1 &
launch_pid=$!
trap 'kill "$launch_pid" 2>/dev/null' INT TERM
PYTEST_DEBUG_TEMPROOT="$temp/unit" .venv/bin/python -m pytest tests/unit "$@"
verdict $?
unit_status=$?
wait "$launch_pid"
verdict $?
launch_status=$?
echo
echo "==================== tests/megatron + tests/slurm ===================="
cat "$launch_log"
echo "test.sh: tests/unit exit $unit_status; tests/megatron + tests/slurm exit $launch_status"
if [ "$unit_status" -ne 0 ] || [ "$launch_status" -ne 0 ]; then
  exit 1
fi
exit 0
