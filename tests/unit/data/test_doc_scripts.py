"""The scripts shown in docs/data.md run as documented (sample-data check, a quick benchmark, fuzzing)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from data_helpers import REPO, documented


def test_documented_scripts_run():
    scripts = [command for command in documented("bash") if command.startswith("python scripts/")]
    assert {command.split()[1] for command in scripts} == {"scripts/make_sample_data.py", "scripts/bench_preprocess.py",
                                                          "scripts/fuzz_fast_bpe.py"}
    for command in scripts:
        _, script, *argv = shlex.split(command)
        result = _run_script(script, argv)
        assert result.returncode == 0, result.stderr[-2000:]
        if "bench" in script:
            assert "(b) HF tokenizers bound" in result.stdout and "(b)/(a) =" in result.stdout
            assert "(f) tiktoken fast path alone" in result.stdout and "start-up" in result.stdout
            assert result.stdout.count("byte-identical to (a): True") == 2  # --tokenizer-backend hf, the tool
            assert "0 differ from tokenizers" in result.stdout
        if "fuzz" in script:
            assert "0 differ from tokenizers" in result.stdout


def _run_script(script: str, argv: list[str]):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, script, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
