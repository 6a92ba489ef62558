"""The doctor's NeMo / megatron-core pair check on real megatron-core releases, and setup.sh --container's use of it.

Oracles: the pinned pair trains (the Megatron suite), 0.16.1 trains through the adapter
(test_stack_pair.py) and reports the same signature in-process (``compat.optimizer_signature_ok``),
0.14.0 cannot import ``nemo.collections.llm`` (checked here by importing it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from testlib import REPO

pytestmark = pytest.mark.megatron


def doctor_json(env: dict) -> dict:
    proc = subprocess.run([sys.executable, "-m", "recipes.doctor", "--json"], capture_output=True, text=True, env=env,
                          timeout=300)
    return proc.returncode, {check["name"]: check for check in json.loads(proc.stdout)}


def test_the_pinned_pair_is_ok(child_env):
    code, checks = doctor_json(child_env())
    assert code == 0
    pair = checks["nemo/megatron-core pair"]
    assert pair["status"] == "OK" and pair["detail"] == \
        "megatron-core 0.15.3 accepts NeMo's get_megatron_optimizer call", pair
    assert checks["nemo llm collection"]["status"] == "OK"


def test_016_is_ok_with_the_adapter_line(mcore_016, child_env):
    code, checks = doctor_json(child_env(mcore_016))
    assert code == 0, checks
    assert checks["package megatron_core"]["status"] == "OK"
    assert checks["package megatron_core"]["detail"].startswith("0.16.1 (constraints.txt pins 0.15.3")
    detail = checks["nemo/megatron-core pair"]["detail"]
    assert checks["nemo/megatron-core pair"]["status"] == "OK"
    assert detail.startswith("megatron-core 0.16.1 lacks NeMo's lr_mult, no_weight_decay_cond, scale_lr_cond: "
                             "adapter will be applied in the training process (exact for Llama's defaults")
    assert "async checkpoint save is unavailable" in detail  # 0.16 removed the tensorstore strategy
    # The second reading of the same fact: the training process's inspect-based check on the imported code.
    probe = subprocess.run([sys.executable, "-W", "ignore", "-c",
                            "from recipes.mcore import compat; print(compat.optimizer_signature_ok())"],
                           capture_output=True, text=True, env=child_env(mcore_016), timeout=300)
    assert probe.stdout.strip().splitlines()[-1] == "False", probe.stderr[-2000:]


def test_014_fails_with_the_fix_and_setup_refuses_it(mcore_014, child_env):
    """0.14.0 really cannot import nemo.collections.llm; the doctor says so, and setup.sh --container installs nothing."""
    env = child_env(mcore_014)
    imported = subprocess.run([sys.executable, "-W", "ignore", "-c", "import nemo.collections.llm"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert imported.returncode != 0 and "ProcessGroupCollection" in imported.stderr
    code, checks = doctor_json(env)
    assert code == 1
    pair = checks["nemo/megatron-core pair"]
    assert pair["status"] == "FAIL" and "megatron-core 0.14.0 has no ProcessGroupCollection" in pair["detail"]
    assert pair["fix"].startswith("bash scripts/setup.sh (pins megatron-core 0.15.3")
    # Refused before pip runs: the shared environment is not touched (setup.sh installs with `pip -e .`).
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "--container"], capture_output=True,
                          text=True, cwd=REPO, env={**env, "PYTHON": sys.executable}, timeout=300)
    assert proc.returncode == 1
    assert "FAIL nemo/megatron-core pair: megatron-core 0.14.0" in proc.stdout
    assert "setup.sh: --container: this image's NeMo / megatron-core pair cannot train" in proc.stderr
    assert "(kept)" not in proc.stdout, "nothing may be installed after the refusal"


def test_a_nemo_without_the_llm_collection_fails(child_env, tmp_path):
    """NeMo 3's layout (collections without llm), first on the path: the doctor's file check fails with the fix."""
    fake = tmp_path / "nemo3"
    (fake / "nemo" / "collections" / "asr").mkdir(parents=True)
    for init in ("nemo", "nemo/collections", "nemo/collections/asr"):
        (fake / init / "__init__.py").write_text("")
    proc = subprocess.run([sys.executable, "-m", "recipes.environment.stack"], capture_output=True, text=True,
                          env=child_env(fake), timeout=120)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"FAIL nemo llm collection: {fake / 'nemo'} has no nemo.collections.llm"), proc.stdout
