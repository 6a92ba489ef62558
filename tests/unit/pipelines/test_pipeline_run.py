"""A pipeline run locally, end to end on the tiny model: killed in pretraining, rerun (preprocessing skipped,
pretraining resumed from its checkpoint), then a changed finetuning config (finetune, merge and evaluate rerun,
nothing before them). What ran is read from what the stages themselves leave: the training callbacks'
``launches.jsonl``, the outputs' modification times, the files' bytes; not from the pipeline's own words."""

from __future__ import annotations

import json
from pathlib import Path

from testlib import REPO, run_module

SAMPLE = REPO / "recipes" / "data" / "sample"
PIPELINE = f"""
name: tinypipe
state_dir: state
stages:
  preprocess: {{input: {SAMPLE}/translate_pretrain.jsonl, output-prefix: data/text, append-eod: true, overwrite: true}}
  prepare_sft: {{input: {SAMPLE}/translate_instructions.jsonl, output_dir: data/sft, val_size: 8, test_size: 0,
                overwrite: true}}
  pretrain: {{M: tiny, backend: hf, E: pre, D: data/text_text_document, max_steps: 4, ckpt_every_n_steps: 2,
             g: 2, s: 64, results_dir: results}}
  finetune: {{M: tiny, backend: hf, E: lora, peft: lora, D: data/sft, hf_model_id: results/pre/hf_model,
             max_steps: 2, g: 2, s: 32, results_dir: results}}
  merge_lora: {{base: results/pre/hf_model, adapter: results/lora/hf_adapter, output_path: merged, overwrite: true}}
  evaluate: {{model_path: merged, test_file: {SAMPLE}/translate_heldout.jsonl, limit: 2, max_new_tokens: 2,
             output: eval/report.json, overwrite: true}}
"""
STAGES = ("preprocess", "prepare_sft", "pretrain", "finetune", "merge_lora", "evaluate")


def launches(run: Path) -> list[dict]:
    path = run / "launches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def mtimes(root: Path, *paths: str) -> dict[str, int]:
    return {p: (root / p).stat().st_mtime_ns for p in paths}


def pipeline(root: Path, *extra: str, env: dict | None = None):
    return run_module("recipes.pipeline", "pipeline.yaml", "-y", *extra, cwd=root, env=env, timeout=900)


def test_killed_pretraining_resumes_and_a_changed_stage_reruns_with_what_follows(isolated):
    root = isolated
    (root / "pipeline.yaml").write_text(PIPELINE)

    # 1. Pretraining dies after step 3 (SIGKILL; the checkpoint of step 2 is on disk): the pipeline stops there.
    first = pipeline(root, env={"RECIPES_FAULT": "kill_after_step:3"})
    assert first.returncode != 0, first.stdout[-2000:]
    assert "stage pretrain failed" in first.stderr and "Traceback" not in first.stderr, first.stderr[-2000:]
    assert [launch["resumed_step"] for launch in launches(root / "results" / "pre")] == [None]
    assert not (root / "results" / "lora").exists(), "nothing after the killed stage ran"
    assert sorted(p.stem for p in (root / "state").glob("*.json")) == ["pipeline", "prepare_sft", "preprocess"]
    data = mtimes(root, "data/text_text_document.bin", "data/text_text_document.idx", "data/sft/training.jsonl")

    # 2. The same command again: preprocessing is not redone, pretraining resumes from step 2 and ends at 4.
    second = pipeline(root)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert mtimes(root, *data) == data, "the data stages were skipped"
    pre = launches(root / "results" / "pre")
    assert [(launch["resumed_step"], launch["first_step"]) for launch in pre] == [(None, 1), (2, 3)], pre
    assert Path(pre[1]["resumed_from"]).parent.name == "step=0000002"
    manifests = {name: json.loads((root / "state" / f"{name}.json").read_text()) for name in STAGES}
    assert manifests["pretrain"]["command"].startswith("python -m recipes.pretrain -M tiny --backend hf -E pre")
    report = json.loads((root / "eval" / "report.json").read_text())
    assert report["num_samples"] == 2 and report["model_path"] == str(root / "merged")

    # 3. Finetuning changed: it reruns (resuming at its step 2, training step 3), then merge and evaluate;
    #    the stages before it are left as they were.
    before = mtimes(root, *data, "results/pre/hf_model/model.safetensors")
    merged = mtimes(root, "merged/adapter_config.json" if (root / "merged/adapter_config.json").exists()
                    else "merged/config.json", "eval/report.json")
    third = pipeline(root, "finetune.max_steps=3")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert mtimes(root, *before) == before
    assert len(launches(root / "results" / "pre")) == 2, "pretraining did not run again"
    lora = launches(root / "results" / "lora")
    assert [(launch["resumed_step"], launch["max_steps"]) for launch in lora] == [(None, 2), (2, 3)], lora
    assert all(mtime != merged[path] for path, mtime in mtimes(root, *merged).items()), "merge and evaluate reran"
    after = {name: json.loads((root / "state" / f"{name}.json").read_text()) for name in STAGES}
    for name in ("preprocess", "prepare_sft", "pretrain"):
        assert after[name] == manifests[name], name
    for name in ("finetune", "merge_lora", "evaluate"):
        assert after[name]["ended"] > manifests[name]["ended"], name
    assert "--max_steps 3" in after["finetune"]["command"]


def test_last_names_the_newest_complete_megatron_checkpoint(tmp_path):
    """``${last:RUN}``: the newest ``checkpoints/*-last`` whose save finished (NeMo marks an unfinished one
    with ``<name>-unfinished`` beside it); none is a one-line usage error."""
    import os

    import pytest

    from recipes.core.errors import UsageError
    from recipes.pipelines.runner import resolve_last

    run = tmp_path / "run"
    with pytest.raises(UsageError, match=r"no complete \*-last checkpoint"):
        resolve_last([f"${{last:{run}}}"])
    for age, name in enumerate(["step=2-last", "step=4-last", "step=6-last"]):
        folder = run / "checkpoints" / name
        folder.mkdir(parents=True)
        os.utime(folder, (1000 + age, 1000 + age))
    (run / "checkpoints" / "step=6-last-unfinished").touch()
    assert resolve_last(["--source", f"${{last:{run}}}"]) == ["--source", str(run / "checkpoints" / "step=4-last")]
