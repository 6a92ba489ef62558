"""End to end on the local Slurm cluster: ``recipes.preprocess --shards 4`` as a job array and a merge job.

Oracle: the one-process local run of the same input (``data/sample_text_document``, made by the
documented command in e2e_helpers, and a local run over the test's own split of the sample into
files), compared byte for byte, and megatron-core's own ``IndexedDataset`` reading the merge back.
Which shards ran is read from Slurm's accounting (array task ids) and the manifest, never timings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from e2e_helpers import REPO, e2e, run, wait_state  # noqa: F401 (fixture)

SAMPLE = REPO / "recipes" / "data" / "sample" / "pretrain_zh_en.jsonl"


def doc_commands() -> list[str]:
    """The Slurm commands docs/data.md shows (its ```sh blocks)."""
    text = (REPO / "docs" / "data.md").read_text(encoding="utf-8")
    return [line.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)
            for line in block.splitlines() if line.strip() and not line.startswith("#")]


SHARDED, STATUS = doc_commands()


def array_tasks(job: str) -> dict[str, str]:
    """{array index: state} of an array job, from sacct (``123_2 COMPLETED``)."""
    out = run("sacct", "-X", "-P", "-n", "-o", "JobID,State", "-j", job).stdout
    rows = [line.split("|") for line in out.splitlines() if line.startswith(f"{job}_")]
    return {job_id.split("_", 1)[1]: state.split()[0] for job_id, state in rows}


def sacct_state(job: str) -> str:
    out = run("sacct", "-X", "-P", "-n", "-o", "JobID,State", "-j", job).stdout
    return next((line.split("|")[1].split()[0] for line in out.splitlines() if line.split("|")[0] == job), "")


def submitted_jobs(stdout: str, tasks=("shards", "merge")) -> dict[str, str]:
    jobs = {name: job for job, name in re.findall(r"^submitted slurm job (\d+) \((\S+)\)$", stdout, re.M)}
    assert set(jobs) == set(tasks), stdout
    return jobs


def assert_same(merged: Path, reference: Path) -> None:
    for suffix in (".bin", ".idx"):
        assert Path(f"{merged}{suffix}").read_bytes() == Path(f"{reference}{suffix}").read_bytes(), \
            f"{merged}{suffix} differs from the one-process {reference}{suffix}"


def megatron_documents(prefix: Path) -> int:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    dataset = IndexedDataset(str(prefix), mmap=True)
    total = sum(len(dataset[i]) for i in range(len(dataset)))
    assert total * dataset.index.dtype_size == Path(f"{prefix}.bin").stat().st_size
    return len(dataset.document_indices) - 1


def test_job_array_of_byte_ranges_and_of_files_equals_one_process(e2e):
    parts = e2e.root / "parts"
    parts.mkdir()
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    for name, (a, b) in zip("abcde", ((0, 50), (50, 200), (200, 270), (270, 330), (330, 400))):
        (parts / f"{name}.jsonl").write_bytes(b"".join(lines[a:b]))  # 5 files over 4 shards: whole files
    e2e.sh("python -m recipes.preprocess --input parts --output-prefix data/parts_one --append-eod")
    one_file = submitted_jobs(e2e.sh(SHARDED).stdout)
    files = submitted_jobs(e2e.sh(f"python -m recipes.preprocess --executor slurm -a acct -p debug --packager none "
                                  f"--detach --shards 4 -E parts --input parts --output-prefix data/parts4 "
                                  f"--append-eod").stdout)
    for jobs in (one_file, files):
        wait_state(jobs["merge"], "COMPLETED", timeout=600)  # the shared cluster may queue it behind others
        assert array_tasks(jobs["shards"]) == {str(k): "COMPLETED" for k in range(4)}

    assert_same(e2e.root / "data/shards/sample_text_document", e2e.root / "data/sample_text_document")
    assert_same(e2e.root / "data/parts4_text_document", e2e.root / "data/parts_one_text_document")
    assert megatron_documents(e2e.root / "data/shards/sample_text_document") == 400
    plan = json.loads((e2e.root / "data/shards/sample.shards/manifest.json").read_text())
    assert [r["end"] - r["start"] for s in plan["plan"] for r in s] and len(plan["plan"]) == 4
    files_plan = json.loads((e2e.root / "data/parts4.shards/manifest.json").read_text())
    assert [[Path(r["path"]).name for r in s] for s in files_plan["plan"]] == \
        [["a.jsonl", "b.jsonl"], ["c.jsonl"], ["d.jsonl"], ["e.jsonl"]]
    status = e2e.sh(STATUS).stdout
    assert "shards 4/4  docs 400  tokens" in status and "merged" in status, status
    states = json.loads(e2e.sh(STATUS + " --json").stdout)  # NeMo-Run reads the array as UNKNOWN; sacct does not
    assert states["shards"]["status"] == "SUCCEEDED" and states["shards"]["shards"]["done"] == 4, states
    e2e.assert_no_secret()


def test_killed_shard_is_redone_alone_then_merged(e2e):
    command = SHARDED.replace("data/shards/", "data/killed/").replace(" --detach", "")  # waits for the merge
    failed = e2e.sh(command, env={"RECIPES_FAULT": "kill_in_shard:2"}, check=False, timeout=600)
    assert failed.returncode == 1 and "shard 2 FAILED; rerun the same command" in failed.stderr, failed.stderr
    first = submitted_jobs(failed.stdout)
    merge = wait_state(first["merge"], "CANCELLED", timeout=60)  # afterok on the array: never ran
    assert merge["Reason"].startswith("Dependency") or merge["Start"] in ("None", "Unknown"), merge
    assert array_tasks(first["shards"]) == {"0": "COMPLETED", "1": "COMPLETED", "2": "FAILED", "3": "COMPLETED"}
    folder = e2e.root / "data/killed/sample.shards"
    half = [p for p in folder.glob("shard-00002_text_document.bin.tmp-*") if re.search(r"\.tmp-\d+$", p.name)]
    assert half and half[0].stat().st_size > 0, "shard 2 was killed after writing part of its .bin"
    assert not (folder / "shard-00002.json").exists() and (folder / "shard-00003.json").is_file()
    assert not (e2e.root / "data/killed/sample_text_document.idx").exists()
    states = json.loads(e2e.sh(STATUS + " --json").stdout)
    assert states["shards"]["status"] == "FAILED" and states["shards"]["shards"]["done"] == 3, states
    assert states["merge"]["status"] != "SUCCEEDED", states
    logs = e2e.sh(STATUS + " --logs shards").stdout  # every array task's log
    assert all(f"shard {k} of 0-3: wrote" in logs for k in (0, 1, 3)) and "shard 2 of" not in logs, logs[-3000:]
    before = (folder / "manifest.json").read_bytes()
    changed = e2e.sh(command.replace(" --append-eod", ""), check=False)
    assert changed.returncode == 2 and "append_eod was True, now False" in changed.stderr, changed.stderr
    assert "submitted" not in changed.stdout and (folder / "manifest.json").read_bytes() == before

    again = e2e.sh(command, timeout=600)  # exit 0: the merge completed
    assert "3 complete, 1 to do (2)" in again.stdout and "shards 4/4 done: 400 documents" in again.stdout, again.stdout
    second = submitted_jobs(again.stdout)
    assert sacct_state(second["merge"]) == "COMPLETED"
    assert array_tasks(second["shards"]) == {"2": "COMPLETED"}, "only the killed shard is resubmitted"
    assert_same(e2e.root / "data/killed/sample_text_document", e2e.root / "data/sample_text_document")
    assert not list(folder.glob("*.tmp-*")), "the killed task's temporary file is cleaned up"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [r["index"] for r in manifest["results"]] == [0, 1, 2, 3]
    assert sum(r["documents"] for r in manifest["results"]) == 400

    done = e2e.sh(command, check=False)  # all done: the output exists
    assert done.returncode == 2 and "already exists" in done.stderr and "submitted" not in done.stdout, done
