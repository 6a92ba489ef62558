"""End to end on the local Slurm cluster: preprocessing as a Slurm job, and the preprocess -> pretrain ->
finetune pipeline chained by afterok dependencies (a failing first step cancels the rest).

The project's CLI runs as a subprocess, as documented in docs/slurm_testing.md (see e2e_helpers).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from e2e_helpers import (DOC_COMMANDS, doc_commands, e2e, normalise_ids, sacct, submitted,  # noqa: F401 (fixture)
                         wait_state)


def test_docs_show_the_tested_commands():
    """docs/slurm_testing.md shows exactly the commands these tests run (job ids aside)."""
    shown = [normalise_ids(command) for command in doc_commands()]
    assert sorted(set(shown)) == sorted(set(DOC_COMMANDS.values())), (
        f"only in the docs: {sorted(set(shown) - set(DOC_COMMANDS.values()))}\n"
        f"only in the tests: {sorted(set(DOC_COMMANDS.values()) - set(shown))}")


def test_preprocess_job_writes_mmap(e2e):
    """`recipes.preprocess --executor slurm` runs the tokenizer as a one-task Slurm job and waits for it."""
    proc = e2e.sh("preprocess", timeout=240)  # waits for the job; exit 0 when it succeeded
    jobs = submitted(proc.stdout)
    assert list(jobs) == ["preprocess"], proc.stdout
    job = jobs["preprocess"]
    row = sacct(job)
    assert row and row["State"] == "COMPLETED" and row["ExitCode"] == "0:0", row
    out = e2e.root / "data" / "slurm"
    for suffix in (".bin", ".idx"):  # relative paths were made absolute: the job runs in NeMo-Run's code dir
        written = (out / f"sample_text_document{suffix}").read_bytes()
        assert written == (e2e.root / "data" / f"sample_text_document{suffix}").read_bytes(), \
            f"the Slurm job's {suffix} differs from the local run's"
    log = e2e.attempt_log("preprocess", "preprocess", job, 0).read_text()
    assert "recipes.preprocess: wrote" in log and "documents  400" in log, log[-2000:]
    e2e.assert_no_secret()


def test_job_paths_that_nemo_run_would_rewrite_are_refused(e2e):
    """Without a container NeMo-Run rewrites '/nemo_run' in sbatch scripts: such a NEMORUN_HOME is refused."""
    home = {"NEMORUN_HOME": str(e2e.root / "nemo_run")}
    for key in ("preprocess", "train"):
        proc = e2e.sh(key, check=False, env=home, timeout=120)
        assert proc.returncode == 2 and "NeMo-Run would rewrite '/nemo_run'" in proc.stderr, proc.stderr[-2000:]
    assert not (e2e.root / "nemo_run").exists(), "nothing submitted"


def _chain(e2e, bad: bool) -> dict[str, str]:
    """Submit preprocess -> pretrain -> finetune with --detach, each step depending on the previous job id."""
    def cmd(key: str) -> str:
        text = DOC_COMMANDS[key]
        if bad:  # same commands, another input (with a malformed line) and other experiment names
            text = (text.replace("recipes/data/sample/pretrain_zh_en.jsonl", "bad.jsonl")
                    .replace("data/pipe/", "data/bad/").replace("tiny_", "bad_"))
        return text

    data = e2e.submit(cmd("pipe_preprocess"), "preprocess")
    pre = e2e.submit(cmd("pipe_pretrain"), "pretrain", job=data)
    lora = e2e.submit(cmd("pipe_finetune"), "lora", job=pre)
    return {"preprocess": data, "pretrain": pre, "lora": lora}


def test_pipeline_runs_in_order_and_a_failed_step_cancels_the_rest(e2e):
    (e2e.root / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
    with ThreadPoolExecutor(2) as pool:  # two independent chains, submitted side by side
        good_f, bad_f = pool.submit(_chain, e2e, False), pool.submit(_chain, e2e, True)
        good, bad = good_f.result(), bad_f.result()

    # The failing chain: the first step FAILED, Slurm cancelled the rest (kill_invalid_depend).
    row = wait_state(bad["preprocess"], "FAILED", timeout=120)
    assert row["ExitCode"] == "1:0", row
    for task, experiment in (("pretrain", "bad_pre"), ("lora", "bad_lora")):
        wait_state(bad[task], "CANCELLED", timeout=60)
        # A step submitted while its dependency was pending is cancelled with reason Dependency; one submitted
        # after it had failed, at once (DependencyNeverSatisfied, known to scontrol only): either is shown.
        state = json.loads(e2e.sh(f"python -m recipes.status {experiment} --json").stdout)[task]
        assert state["status"] == "CANCELLED" and state["slurm"]["attempts"] == 0, state
        assert state["slurm"]["reason"].startswith("Dependency"), state
        text = e2e.sh(f"python -m recipes.status {experiment}").stdout
        assert "a job it depends on (--dependency) did not succeed" in text, text
    log = e2e.sh("python -m recipes.status bad_data --logs preprocess").stdout
    assert "bad.jsonl:2: malformed JSON" in log, log[-3000:]
    # Submission records the run's identity (identity/run.json); a cancelled step trained nothing.
    ran = [p.name for p in (e2e.results / "bad_pre").glob("*") if p.name != "identity"]
    assert not ran, f"a cancelled step must not have run: {ran}"

    # The good chain: each step started after the previous one ended.
    rows = {task: wait_state(job, "COMPLETED", timeout=240) for task, job in good.items()}
    assert rows["preprocess"]["End"] <= rows["pretrain"]["Start"], rows
    assert rows["pretrain"]["End"] <= rows["lora"]["Start"], rows
    assert (e2e.root / "data" / "pipe" / "sample_text_document.idx").is_file()
    assert (e2e.results / "tiny_pre" / "hf_model" / "config.json").is_file()
    adapter = json.loads((e2e.results / "tiny_lora" / "hf_adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(e2e.results / "tiny_pre" / "hf_model"), \
        "the finetune must start from the pretraining's output"
    status = e2e.sh("pipe_status").stdout
    assert "SUCCEEDED" in status and f"job {good['pretrain']:>10}" in status, status
    e2e.assert_no_secret()
