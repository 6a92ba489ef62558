"""Planning reads the command line, the site file and the data; it writes no environment and runs no
nvidia-smi (the entry point probes the machine and hands secrets on when it launches)."""

from __future__ import annotations

import os

from recipes import pretrain
from recipes.job.cli import build_parser
from recipes.job.plan import Machine, make_plan

TOKEN = "hf_" + "q" * 34  # looks like a Hugging Face token


def fake_nvidia_smi(tmp_path, monkeypatch, gpus: int):
    """An nvidia-smi on PATH listing ``gpus`` GPUs and recording each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text("#!/bin/sh\necho called >> '%s'\n" % (tmp_path / "calls") +
                      "".join(f"echo 'GPU {i}: NVIDIA H200 (UUID: GPU-{i})'\n" for i in range(gpus)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "calls"


def test_make_plan_writes_no_environment_and_probes_nothing(isolated, mmap_prefix, monkeypatch):
    calls = fake_nvidia_smi(isolated, monkeypatch, gpus=4)
    before = dict(os.environ)
    args = build_parser("pretrain").parse_args(["-M", "tiny", "-D", str(mmap_prefix), "--hf_token", TOKEN,
                                                "--env", f"WANDB_API_KEY={'w' * 40}", "--dryrun"])
    plan = make_plan("pretrain", args, Machine(gpus=2))
    assert dict(os.environ) == before and not calls.exists()
    assert plan.local_gpus == 2 and plan.opts.num_gpus == 2  # the machine the caller described
    assert {name: value for name, (value, _) in plan.secrets.items()} == {"HF_TOKEN": TOKEN, "WANDB_API_KEY": "w" * 40}


def test_a_secret_given_by_value_still_counts_as_known_to_the_plan(isolated, mmap_prefix, monkeypatch):
    """--env MY_HF=<the --hf_token value> would write the token into the job's script: refused, though the
    token is not (yet) in the environment."""
    monkeypatch.setenv("HF_TOKEN", "restored-after-the-test")
    monkeypatch.delenv("HF_TOKEN")
    args = build_parser("pretrain").parse_args(["-M", "tiny", "-D", str(mmap_prefix), "--hf_token", "s3cretvalue1",
                                                "--env", "MY_HF=s3cretvalue1", "--dryrun"])
    plan = make_plan("pretrain", args, Machine())
    assert any("--env MY_HF=...: the value is the value of HF_TOKEN" in p for p in plan.problems)


def test_the_entry_point_probes_once_and_hands_secrets_on_by_name(isolated, mmap_prefix, monkeypatch, capsys):
    calls = fake_nvidia_smi(isolated, monkeypatch, gpus=0)
    monkeypatch.setenv("HF_TOKEN", "restored-after-the-test")
    monkeypatch.delenv("HF_TOKEN")
    assert pretrain.main(["-M", "tiny", "-D", str(mmap_prefix), "--hf_token", TOKEN, "--max_steps", "2",
                          "--dryrun"]) == 0
    assert calls.read_text().count("called") == 1
    assert os.environ.get("HF_TOKEN") == TOKEN  # for the job to inherit
    captured = capsys.readouterr()
    assert "export HF_TOKEN instead" in captured.err and TOKEN not in captured.out + captured.err
