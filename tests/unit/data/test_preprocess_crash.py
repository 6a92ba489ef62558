"""Crash safety: a preprocessor killed mid-run leaves no complete-looking .bin/.idx pair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from data_helpers import REPO, output_files, read_documents, write_jsonl

from recipes.data.mmap import preprocess

DOCUMENTS = 6000


def corpus_rows():
    sentence = "台北今天天氣晴朗，適合出門散步。The weather in Taipei is sunny today, good for a walk. "
    return [{"text": f"{index}: " + sentence * (4 + index % 5)} for index in range(DOCUMENTS)]


def wait_for_growing_temp(folder, child, timeout=60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert child.poll() is None, "the preprocessor finished before it could be killed; enlarge the input"
        for name in output_files(folder) if folder.exists() else []:
            if ".tmp-" in name and os.path.getsize(folder / name) > 0:
                return name
        time.sleep(0.02)
    raise AssertionError("no temporary output appeared")


def test_sigkill_mid_run_leaves_no_pair_and_a_rerun_recovers(tmp_path, expected_ids):
    rows = corpus_rows()
    source = write_jsonl(tmp_path / "big.jsonl", rows)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    child = subprocess.Popen([sys.executable, "-m", "recipes.preprocess", "--input", str(source), "--output-prefix",
                              str(out / "big"), "--append-eod", "--workers", "1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        temp = wait_for_growing_temp(out, child)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    left = output_files(out)
    assert temp and any(".tmp-" in name for name in left)
    assert "big_text_document.idx" not in left and "big_text_document.bin" not in left

    summary = preprocess(str(source), str(out / "big"), append_eod=True, progress=False)

    assert output_files(out) == ["big_text_document.bin", "big_text_document.idx"]  # stale temps cleaned
    documents, _ = read_documents(out / "big_text_document")
    assert summary["documents"] == len(documents) == DOCUMENTS
    assert documents[0] == expected_ids(rows[0]["text"]) and documents[-1] == expected_ids(rows[-1]["text"])

