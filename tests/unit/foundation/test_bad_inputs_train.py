"""Bad inputs to recipes.pretrain / recipes.finetune: exit 2, one line naming the flag, nothing written.

Every case runs the real entry point in-process (validation needs no GPU); each row names the
flag the line must start with, so a check that reported the wrong flag fails too.
"""

from pathlib import Path

import pytest

from recipes import finetune, pretrain

SECRET = "hf_" + "Q" * 34  # the shape of a Hugging Face user token


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def errors_of(entry, argv, root, capfd) -> list[str]:
    before = snapshot(root)
    code = (pretrain if entry == "pretrain" else finetune).main(argv)
    err = capfd.readouterr().err
    assert code == 2, err
    assert snapshot(root) == before, "a refused command writes nothing"
    assert "Traceback" not in err
    return [line.split("error: ", 1)[1] for line in err.splitlines() if "error: " in line]


@pytest.fixture
def data(isolated, mmap_prefix, sft_folder):
    return {"mmap": str(mmap_prefix), "sft": str(sft_folder)}


PRE = ["-M", "tiny", "--backend", "hf", "--cpu", "--dryrun"]  # the small-model backend: runs anywhere
MEG = ["--executor", "slurm", "-a", "acct", "--packager", "none", "--dryrun"]  # Megatron, dry-run on Slurm

CASES = [  # (entry, argv, the problem line's start)
    ("pretrain", PRE + ["-D", "{mmap}", "-m", "0"], "-m/--micro_batch_size: 0 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "-g", "0"], "-g/--global_batch_size: 0 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "-g", "-4"], "-g/--global_batch_size: -4 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "-s", "0"], "-s/--seq_length: 0 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "--lr", "nan"], "--lr: nan must be a finite number"),
    ("pretrain", PRE + ["-D", "{mmap}", "--lr", "inf"], "--lr: inf must be a finite number"),
    ("pretrain", PRE + ["-D", "nan {mmap} 1 {mmap}"], "-D/--dataset_path: weight nan must be a finite"),
    ("pretrain", PRE + ["-D", "inf {mmap} 1 {mmap}"], "-D/--dataset_path: weight inf must be a finite"),
    ("pretrain", PRE + ["-D", "{mmap}", "--seed", "-1"], "--seed: -1 must be in"),
    ("pretrain", PRE + ["-D", "{mmap}", "-N", "2"], "-N/--num_nodes: 2 nodes need --executor slurm"),
    ("pretrain", PRE + ["-D", "{mmap}", "-a", "acct"], "-a/--account: not used by --executor local"),
    ("pretrain", PRE + ["-D", "{mmap}", "--time", "01:00:00"], "-t/--time: not used by --executor local"),
    ("pretrain", PRE + ["-D", "{mmap}", "--packager", "git"], "--packager: not used by --executor local"),
    ("pretrain", PRE + ["-D", "{mmap}", "--wandb"], "--wandb: the hf backend does not support it"),
    ("pretrain", MEG + ["--mock_data", "--fp8_recipe", "mxfp8"], "--fp8_recipe: has an effect only with --fp8"),
    ("pretrain", ["--executor", "docker", "-i", "img", "--packager", "git", "--mock_data", "--dryrun"],
     "--packager: not used by --executor docker"),
    ("pretrain", MEG, "-D/--dataset_path: required; pass Megatron mmap prefix(es)"),
    ("pretrain", MEG + ["--mock_data", "-D", "{mmap}"], "--mock_data: conflicts with -D/--dataset_path"),
    ("pretrain", PRE + ["--mock_data"], "--mock_data: only Megatron pretraining"),
    ("finetune", PRE + ["-D", "{sft}", "--packed_sequence"], "--packed_sequence: the hf backend does not"),
    ("finetune", PRE + ["-D", "{sft}", "--peft", "lora", "--qlora"], "--qlora: the 4-bit base (bitsandbytes) needs a CUDA GPU"),
    ("pretrain", PRE + ["-D", "{mmap}", "--env", f"MY_HF={SECRET}"], "--env MY_HF=...: the value is a token"),
    ("pretrain", PRE + ["-D", "{mmap}", "--env", "NOVALUE"], "--env: 'NOVALUE' is not KEY=VALUE"),
    ("pretrain", PRE + ["-D", "{mmap}", "trainer.max_steps=abc"], "override 'trainer.max_steps=abc': expected int"),
    ("finetune", PRE + ["-D", "{sft}", "--peft", "lora", "peft.dim=abc"], "override 'peft.dim=abc': expected int"),
    ("pretrain", PRE + ["-D", "{mmap}", "trainer.max_steps=0"], "override 'trainer.max_steps=0': 0 must be > 0"),
    ("pretrain", PRE + ["-D", "{mmap}", "optim.config.lr=nan"], "override 'optim.config.lr=nan': nan must be"),
    ("pretrain", PRE + ["-D", "{mmap}", "trainer.devices=4"], "override 'trainer.devices=4': set by -G/--num_gpus"),
    ("pretrain", PRE + ["-D", "{mmap}", "data.paths=/nowhere/x"], "override 'data.paths=/nowhere/x': /nowhere/x"),
    ("pretrain", PRE + ["-D", "{mmap}", "trainer.max_steps"], "override 'trainer.max_steps': expected dotted"),
    ("pretrain", PRE + ["-D", "{mmap}", "--hf_model_id", "meta-llama/Llama-3.2-1B"], "--hf_model_id: -M tiny trains"),
    ("pretrain", MEG + ["-M", "tiny", "--mock_data", "--hf_model_id", "org/other"], "--hf_model_id: -M tiny trains"),
]


@pytest.mark.parametrize("entry,argv,start", CASES, ids=[c[2][:38] for c in CASES])
def test_bad_input_is_one_line_naming_the_flag(entry, argv, start, data, isolated, capfd):
    argv = [a.format(**data) for a in argv]
    errors = errors_of(entry, argv, isolated, capfd)
    assert len(errors) == 1 and errors[0].startswith(start), errors
    assert SECRET not in errors[0]


def test_a_secret_under_another_name_is_refused_and_never_shown(data, isolated, monkeypatch, capfd):
    value = "sk-not-a-known-pattern-4f9a2c"  # no token shape: only its equality with HF_TOKEN gives it away
    monkeypatch.setenv("HF_TOKEN", value)
    site = isolated / "site.yaml"
    site.write_text(f"env_vars: {{SITE_COPY: 'Bearer {value}'}}\n")
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(site))
    before = snapshot(isolated)
    assert pretrain.main(PRE + ["-D", data["mmap"], "--env", f"MY_HF={value}"]) == 2
    err = capfd.readouterr().err
    assert value not in err and snapshot(isolated) == before
    assert "--env MY_HF=...: the value is the value of HF_TOKEN" in err and "export HF_TOKEN instead" in err
    assert "site env_vars SITE_COPY=...: the value is the value of HF_TOKEN" in err


def test_every_problem_is_reported_together(data, isolated, monkeypatch, capfd):
    site = isolated / "site.yaml"
    site.write_text("acount: typo\n")
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(site))
    argv = ["-M", "llama9_1t", "--executor", "slurm", "-a", "acct", "--packager", "none", "--dryrun",
            "--env", "NOVALUE", "--sbatch", "x", "--time", "forever", "-m", "0", "-E", "../x",
            "trainer.max_steps=abc"]
    errors = errors_of("pretrain", argv, isolated, capfd)
    starts = ["-M/--model", f"{site}: unknown setting", "--env: 'NOVALUE'", "--sbatch: 'x'", "-m/--micro_batch_size",
              "-D/--dataset_path", "-E/--experiment", "-t/--time", "override 'trainer.max_steps=abc'"]
    for start in starts:
        assert sum(e.startswith(start) for e in errors) == 1, (start, errors)
    assert len(errors) == len(starts), errors


def test_an_override_that_passes_is_what_runs(data, isolated, capfd):
    assert pretrain.main(PRE + ["-D", data["mmap"], "trainer.max_steps=7", "optim.config.lr=0.005"]) == 0
    out = capfd.readouterr().out
    assert "max_steps: 7" in out and "lr: 0.005" in out


def test_unexpected_errors_are_one_line_and_the_traceback_is_behind_debug(data, isolated, monkeypatch, capfd):
    import recipes.validate as validate

    def broken(plan):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(validate, "CHECKS", (broken,))
    argv = PRE + ["-D", data["mmap"]]
    assert pretrain.main(argv) == 1
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("recipes.pretrain: internal error: RuntimeError at ") and err[0].endswith(": a bug")
    assert not any("Traceback" in line for line in err) and "--debug" in err[1]
    assert pretrain.main(argv + ["--debug"]) == 1
    assert "Traceback (most recent call last)" in capfd.readouterr().err
    monkeypatch.setenv("RECIPES_DEBUG", "1")
    assert pretrain.main(argv) == 1
    assert "Traceback (most recent call last)" in capfd.readouterr().err
