"""The HF -> NeMo import task of a Slurm plan asks for no GPUs, may use a CPU partition, and writes
inside the job's mounts exactly where the training task restores from (checked on the rendered
sbatch scripts and NeMo-Run's serialised task configs)."""

from __future__ import annotations

import os
import re

import torch
import yaml
from safetensors.torch import save_file

from testlib import run_module, write_mmap


def test_import_task_is_a_cpu_job_writing_inside_the_mounts(tmp_path):
    hf = tmp_path / "hf_model"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    save_file({"w": torch.zeros(2)}, str(hf / "model.safetensors"))  # a real, readable weights file
    write_mmap(tmp_path / "data" / "wiki_text_document", [[1, 2, 3, 4]] * 4)
    env = {"NEMORUN_HOME": str(tmp_path / "home"), "NEMO_HOME": str(tmp_path / "nemo_home"),
           "RECIPES_RESULTS_DIR": str(tmp_path / "results"), "RECIPES_SITE_CONFIG": os.devnull}
    proc = run_module("recipes.pretrain", "--executor", "slurm", "-a", "acct", "-p", "gpu", "--cpu_partition", "cpu",
                      "-i", "image.sqsh", "-N", "2", "-G", "8", "-D", str(tmp_path / "data" / "wiki_text_document"),
                      "--hf_model_id", str(hf), "--max_steps", "5", "--packager", "none", "--dryrun", "--yes",
                      env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (exp_dir,) = (tmp_path / "home" / "experiments" / "llama31_pretraining").iterdir()
    import_script = (exp_dir / "import_sbatch.sh").read_text()
    train_script = (exp_dir / "pretrain_sbatch.sh").read_text()

    assert "#SBATCH --partition=cpu" in import_script and "#SBATCH --nodes=1" in import_script
    assert not re.search(r"gpus|gres", import_script), "the import asks for no GPUs"
    assert "torchrun" not in import_script and "#SBATCH --ntasks-per-node=1" in import_script
    assert "#SBATCH --gpus-per-node=8" in train_script and "#SBATCH --partition=gpu" in train_script

    target = yaml.safe_load((exp_dir / "import" / "configs" / "import_config.yaml").read_text())["target"]
    restore = yaml.safe_load((exp_dir / "pretrain" / "configs" / "pretrain_config.yaml").read_text())
    assert restore["resume"]["restore_config"]["path"] == target
    assert target.startswith(str(tmp_path / "nemo_home" / "models") + "/")
    for script in (import_script, train_script):
        mounts = re.search(r"--container-mounts (\S+)", script).group(1).split(",")
        sources = [m.split(":")[0] for m in mounts]
        assert any(target == src or target.startswith(src + "/") for src in sources), (target, mounts)
    assert not (tmp_path / "nemo_home").exists(), "a dry-run creates nothing"
