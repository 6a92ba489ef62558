"""Bad inputs to recipes.pretrain / recipes.finetune: exit 2, one line naming the flag, nothing written.

Every case runs the real entry point in-process (validation needs no GPU); each row names the
flag the line must start with, so a check that reported the wrong flag fails too.
"""

import shutil
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
    ("pretrain", MEG + ["--mock_data", "--gpu_memory", "nan"], "--gpu_memory: nan is not a positive number"),
    ("pretrain", MEG + ["--mock_data", "--gpu_memory", "-80"], "--gpu_memory: -80.0 is not a positive number"),
    ("pretrain", MEG + ["--mock_data", "--retries", "-1"], "--retries -1: must be at least 0"),
    ("pretrain", PRE + ["-D", "{mmap}", "-N", "-1"], "-N/--num_nodes: -1 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "-G", "0"], "-G/--num_gpus: 0 must be >= 1"),
    ("pretrain", PRE + ["-D", "{mmap}", "--max_steps", "-3"], "--max_steps: -3 must be > 0"),
    ("pretrain", PRE + ["-D", "{mmap}", "--val_check_interval", "-1"], "--val_check_interval: -1 must be > 0"),
    ("pretrain", PRE + ["-D", "{mmap}", "--ckpt_every_n_steps", "0"], "--ckpt_every_n_steps: 0 must be > 0"),
    ("pretrain", MEG + ["--mock_data", "-T", "-1"], "-T/--tensor_model_parallel_size: -1 must be >= 1"),
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
    ("finetune", PRE + ["-D", "{sft}", "data.prompt_template={{input}} }} {{output}}"],  # argv is .format()ted
     "override 'data.prompt_template={input} } {output}': a brace outside a {field} placeholder"),
    ("finetune", PRE + ["-D", "{sft}", "data.prompt_template=Q: {{input}} A: {{answer}}"],
     "override 'data.prompt_template=Q: {input} A: {answer}': needs {input} once and must end with {output}"),
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
    import recipes.job.validate as validate

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


def _site_path(kind: str, root: Path) -> tuple[Path, str]:
    """A RECIPES_SITE_CONFIG that names no usable file, made the way it happens, and the expected words."""
    path = root / "site.yaml"
    if kind == "folder":
        path.mkdir()
        return path, "is a folder, not a settings file"
    if kind == "not_utf8":
        path.write_bytes(b"account: caf\xe9\n")
        return path, "not UTF-8 text"
    if kind == "dangling_link":
        path.symlink_to(root / "moved-away.yaml")
        return path, "no such file"
    return root / "typo-site.yaml", "no such file"


@pytest.mark.parametrize("kind", ["missing", "folder", "not_utf8", "dangling_link"])
@pytest.mark.parametrize("entry", ["pretrain", "finetune"])
def test_a_site_file_that_cannot_be_read_is_one_line_naming_the_variable(kind, entry, data, isolated, monkeypatch,
                                                                         capfd):
    path, words = _site_path(kind, isolated)
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(path))
    argv = MEG + (["--mock_data"] if entry == "pretrain" else ["-M", "tiny", "-D", data["sft"]])
    errors = errors_of(entry, argv, isolated, capfd)
    assert errors == [f"RECIPES_SITE_CONFIG={path}: {words}; point RECIPES_SITE_CONFIG at a YAML file "
                      "(or /dev/null for none)"], errors


def test_the_default_site_file_may_be_absent_but_not_a_folder(data, isolated, monkeypatch, capfd):
    from executors.site import site_settings

    monkeypatch.delenv("RECIPES_SITE_CONFIG")
    monkeypatch.setenv("HOME", str(isolated / "home"))
    assert site_settings() == ({}, [])  # no ~/.config/llama-recipes/site.yaml: no site settings, no problem
    (isolated / "home/.config/llama-recipes/site.yaml").mkdir(parents=True)
    errors = errors_of("pretrain", MEG + ["--mock_data"], isolated, capfd)
    assert len(errors) == 1 and errors[0].startswith(f"{isolated}/home/.config/llama-recipes/site.yaml: is a folder")


@pytest.fixture
def hf_folders(isolated) -> dict[str, Path]:
    """Local HF model folders as an interrupted download or copy leaves them (config.json written)."""
    import json

    import torch
    from safetensors.torch import save_file

    made = {}
    for name in ("truncated", "no_weights", "missing_shard"):
        made[name] = isolated / "hf" / name
        made[name].mkdir(parents=True)
        (made[name] / "config.json").write_text(json.dumps({"model_type": "llama"}))
    save_file({"w": torch.ones(64, 64)}, made["truncated"] / "model.safetensors")
    weights = made["truncated"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (made["missing_shard"] / "model.safetensors.index.json").write_text(json.dumps(index))
    save_file({"a": torch.ones(2)}, made["missing_shard"] / "model-00001-of-00002.safetensors")
    return made


@pytest.mark.parametrize("backend", ["hf", "megatron"])
@pytest.mark.parametrize("kind, words", [("truncated", "model.safetensors: truncated (5,000 bytes"),
                                         ("no_weights", "config.json but no weights"),
                                         ("missing_shard", "1 of 2 weight shards listed")])
def test_a_local_hf_folder_with_incomplete_weights_is_refused_before_the_job(kind, words, backend, data, hf_folders,
                                                                           isolated, capfd):
    """The check convert and evaluate use (recipes.conversion.hf_weights), before an import or training job starts."""
    folder = hf_folders[kind]
    argv = (PRE + ["-D", data["sft"]] if backend == "hf" else MEG + ["-M", "llama32_1b", "-D", data["sft"]])
    errors = errors_of("finetune", argv + ["--hf_model_id", str(folder)], isolated, capfd)
    assert len(errors) == 1 and errors[0].startswith(f"--hf_model_id {folder}") and words in errors[0], errors


@pytest.mark.parametrize("damage, words", [
    (lambda c: (c / "weights/__0_0.distcp").write_bytes(b"\0" * 10), "weights/__0_0.distcp is truncated"),
    (lambda c: (c / "context/io.json").unlink(), "context/io.json is missing"),
    (lambda c: shutil.rmtree(c / "weights"), "a NeMo checkpoint without weights/"),
])
def test_a_half_written_nemo_checkpoint_is_refused_before_the_job(damage, words, data, isolated, capfd):
    from testlib import write_nemo_checkpoint

    ckpt = write_nemo_checkpoint(isolated / "ckpt")
    damage(ckpt)
    errors = errors_of("finetune", MEG + ["-M", "llama32_1b", "-D", data["sft"], "-n", str(ckpt)], isolated, capfd)
    assert len(errors) == 1 and errors[0].startswith(f"-n/--nemo_model {ckpt}: {words}"), errors
