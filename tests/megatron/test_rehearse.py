"""``--rehearse``: the README's 8B Slurm command rehearsed on this CPU through NeMo's real Megatron path.

Each case launches NeMo's job runner twice (a step and a checkpoint, then a resume), ~1-2 minutes.
"""

from __future__ import annotations

import pytest

from testlib import REPO, run_module

pytestmark = [pytest.mark.megatron, pytest.mark.slow]

# README "Rehearse before the queue": the 8B Slurm dry-run with the tutorial's flags (test_readme.py defers to us).
README_REHEARSAL = ("python -m recipes.pretrain --executor slurm -a acct -p batch -i nvcr.io/nvidia/nemo:26.02 -N 2 "
                    "-G 8 -D data/sample_text_document --dryrun --yes --rehearse")
README_SLURM = README_REHEARSAL.split()[3:-1]


@pytest.fixture
def sample_data(isolated):
    done = run_module("recipes.preprocess", "--input", str(REPO / "recipes/data/sample/pretrain_zh_en.jsonl"),
                      "--output-prefix", "data/sample", "--append-eod", cwd=isolated)
    assert done.returncode == 0, done.stderr
    return isolated


def test_readme_8b_slurm_command_rehearses_then_prints_the_sbatch_script(sample_data):
    assert README_REHEARSAL in " ".join((REPO / "README.md").read_text().split())
    done = run_module("recipes.pretrain", *README_REHEARSAL.split()[3:], cwd=sample_data)
    out = done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "rehearsal of llama31_pretraining on this CPU" in out
    # What could not run here is named: the 8B layers, 8192 tokens, GBS 512, CP 2 on 2x8 GPUs, bf16.
    for change in ("model: 2 layers, hidden 64", "sequence length 8192 -> 256", "global batch 512 -> 1",
                   "layout TP 1 PP 1 CP 2 on 2x8", "precision: fp32"):
        assert change in out
    assert "checked: data and tokenizer load, 2 optimizer steps, checkpoint save, resume from" in out
    assert "rehearsal passed in" in out
    # The rehearsal came first, then the dry-run of the job itself; the rehearsal left no directory behind.
    assert out.index("rehearsal passed") < out.index("sbatch script:")
    assert not list(sample_data.glob("results/*"))


def test_a_recipe_that_would_not_resume_stops_the_submission(sample_data):
    """Auto-resume switched off by an override: the job would start from scratch after every requeue."""
    done = run_module("recipes.pretrain", *[a for a in README_SLURM if a != "--dryrun"], "--rehearse",
                      "--packager", "none", "resume.resume_if_exists=false", cwd=sample_data)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--rehearse: the second launch did not resume from" in done.stderr
    assert "Traceback" not in done.stderr
    assert "submitted slurm job" not in done.stdout  # nothing reached the (absent) cluster
    assert not (sample_data / "nemorun_home" / "experiments").exists()

