"""The shipped pipeline files, dry-run: every stage's command line, resolved recipe and (Slurm) sbatch script,
nothing written. A stage's resolved recipe must be what its own command prints for the same options."""

from __future__ import annotations

import re
import shlex

from bad_inputs_helpers import write_tiny_llama
from testlib import REPO, run_module


# Shown in docs/pipeline.md (tests/unit/pipelines/test_pipeline_docs.py keeps the two equal).
TUTORIAL_DRYRUN = ("python -m recipes.pipeline recipes/pipelines/tutorial.yaml --dryrun --executor slurm "
                   "-a acct -p batch --cpu_partition cpu -i nvcr.io/nvidia/nemo:26.02 --retries 2 --packager none")


def _blocks(text: str) -> dict[str, str]:
    """``# ---- title ----`` sections of a dry-run's output."""
    parts = re.split(r"^# ---- (.+) ----$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_demo_dryrun_prints_each_stage_as_its_own_command_would(isolated):
    (isolated / "recipes").symlink_to(REPO / "recipes")
    env = {"DEMO_DIR": str(isolated / "demo")}
    proc = run_module("recipes.pipeline", "recipes/pipelines/demo.yaml", "--dryrun", cwd=isolated, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    blocks = _blocks(proc.stdout)
    headers = [title for title in blocks if title.startswith("stage ") and "(run): " in title]
    assert [h.split()[2] for h in headers] == ["preprocess", "prepare_sft", "pretrain", "finetune", "evaluate",
                                               "chat"], headers
    pretrain = next(h for h in headers if " pretrain " in h).split("(run): ", 1)[1]
    assert pretrain.startswith("python -m recipes.pretrain -M tiny --backend hf -E demo_pretrain -D ")
    assert sorted(p.name for p in isolated.iterdir()) == ["recipes"], "a dry-run writes nothing"
    # The printed commands run by themselves: preprocessing, then pretraining's --dryrun, the same resolved recipe.
    preprocess = headers[0].split("(run): ", 1)[1]
    assert run_module(*preprocess.split()[2:], cwd=isolated).returncode == 0
    own = run_module(*pretrain.split()[2:], "--dryrun", cwd=isolated, env=env)
    assert own.returncode == 0, own.stderr[-3000:]
    assert _blocks(own.stdout)["task: pretrain (resolved recipe)"].split("\n# logs and checkpoints")[0].strip() == \
        blocks["stage pretrain, task pretrain (resolved recipe)"].strip()


def test_tutorial_on_slurm_dryrun_gives_each_stage_its_resources(isolated):
    (isolated / "recipes").symlink_to(REPO / "recipes")
    for path, line in (("data/custom_dataset/json/wikinews-zhtw.jsonl", '{"text": "新聞"}'),
                       ("data/sft/raw/alpaca-zhtw.jsonl", '{"instruction": "說", "input": "", "output": "好"}')):
        (isolated / path).parent.mkdir(parents=True, exist_ok=True)
        (isolated / path).write_text(line + "\n")
    write_tiny_llama(isolated / "Llama-3.1-8B-Instruct")  # the tutorial's downloaded folder (tiny here)
    proc = run_module(*shlex.split(TUTORIAL_DRYRUN)[2:], cwd=isolated)
    assert proc.returncode == 0, proc.stderr[-3000:]
    blocks = _blocks(proc.stdout)
    scripts = {title.split()[4].rstrip(":"): text for title, text in blocks.items() if title.startswith("sbatch")}
    assert list(scripts) == ["preprocess", "prepare_sft", "import", "pretrain", "finetune", "export"]
    for stage, script in scripts.items():
        gpu = stage in ("pretrain", "finetune")
        assert ("#SBATCH --gpus-per-node=8" in script) == gpu, (stage, script)
        assert f"#SBATCH --partition={'batch' if gpu else 'cpu'}" in script, (stage, script)
        assert "#SBATCH --ntasks-per-node=1" in script and "TORCHX_MAX_RETRIES=2" in script, (stage, script)
        assert "--container-image nvcr.io/nvidia/nemo:26.02" in script
    resolved = blocks["stage pretrain, task pretrain (resolved recipe)"]
    assert "global_batch_size: 2048" in resolved and "tensor_model_parallel_size: 2" in resolved
    # The tutorial's `nemo_model: ""` (pretraining's newest checkpoint, looked up when finetuning starts) stays
    # empty: made absolute, it was the working folder, and finetuning would restore from there.
    finetune = next(t for t in blocks if t.startswith("stage 5/6 finetune"))
    assert "--nemo_model ''" in finetune, finetune
    export = next(t for t in blocks if t.startswith("stage 6/6 export"))
    assert "--source '${last:results/llama31_finetuning}' --output_path hf_ckpt" in export
