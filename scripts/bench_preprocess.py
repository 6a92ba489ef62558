"""Benchmark (not a test): ``python -m recipes.preprocess`` against the bare tokenizer and Megatron-LM's tool.

    python scripts/bench_preprocess.py                       # 20 MB, --workers 1
    python scripts/bench_preprocess.py --mb 20 100 --workers 1 2 --repeat 2

Every figure is wall clock of a fresh process, from its start to its exit (start-up included):
(a) ``python -m recipes.preprocess --input CORPUS --append-eod --workers N``, with its peak memory
    (RSS summed over the process and its workers, sampled; and the kernel's max RSS of one process);
(b) the bound: a process that reads the JSONL, parses it and calls the ``tokenizers`` library's
    ``encode_batch_fast`` on ~1 MB batches on all cores, writing nothing;
(c) Megatron-LM core_v0.16.1 ``tools/preprocess_data.py`` (the copy the tests use), same flags;
    its output is compared byte for byte with (a)'s;
start-up: (a) on a one-document input. The corpus mixes Chinese and English sentences of the bundled
sample with Python source of the standard library. The best of ``--repeat`` interleaved runs is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tests/unit/data/megatron_lm/tools/preprocess_data.py"
sys.path.insert(0, str(ROOT))

from recipes.data import sample_data_dir  # noqa: E402
from recipes.tokenizer import bundled_llama3_dir  # noqa: E402

MB = 1024 * 1024
BOUND = """
import json, sys
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[2])
batch, size, tokens = [], 0, 0
def flush(batch):
    return sum(len(e.ids) for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False))
with open(sys.argv[1], "rb") as lines:
    for line in lines:
        batch.append(json.loads(line)["text"]); size += len(line)
        if size >= 1 << 20:
            tokens += flush(batch); batch, size = [], 0
tokens += flush(batch)
print(tokens)
"""


def build_corpus(path: Path, megabytes: float, seed: int = 0) -> int:
    """Documents of sample zh/en sentences and stdlib code snippets until ``megabytes``; return their count."""
    sentences = []
    for line in (sample_data_dir() / "pretrain_zh_en.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        sentences += [part for part in (text.split("。") if "。" in text else text.split(". ")) if part]
    code = [path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(Path(json.__file__).parents[1].glob("*.py"))[:80]]
    rng = random.Random(seed)
    count, size = 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while size < megabytes * MB:
            if rng.random() < 0.3:
                source = rng.choice(code)
                start = rng.randrange(max(len(source) - 4000, 1))
                text = source[start:start + rng.randint(200, 4000)]
            else:
                text = " ".join(f"{s} ({rng.randint(0, 99999)})" for s in rng.choices(sentences, k=rng.randint(2, 40)))
            line = json.dumps({"text": text}, ensure_ascii=False) + "\n"
            out.write(line)
            size += len(line.encode("utf-8"))
            count += 1
    return count


def timed(command: list[str], cwd: Path) -> dict:
    """Wall clock from start to exit, peak RSS (sampled sum over the process tree; kernel max of one)."""
    import psutil

    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore", HF_HUB_OFFLINE="1")
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    parent, peak = psutil.Process(child.pid), 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)  # this child's own rusage, not a running max
        if pid:
            break
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [parent] + parent.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{command[:4]} failed with exit {child.returncode}: {child.stderr.read()[-2000:]}")
    return {"wall_s": wall, "peak_tree_mb": max(peak, usage.ru_maxrss * 1024) / MB,
            "max_rss_mb": usage.ru_maxrss * 1024 / MB}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda run: run["wall_s"])


def bench_size(folder: Path, megabytes: float, workers: list[int], repeat: int, tool: bool) -> None:
    corpus = folder / f"corpus{megabytes:g}.jsonl"
    documents = build_corpus(corpus, megabytes)
    tokenizer_json = str(bundled_llama3_dir() / "tokenizer.json")
    ours = {n: [sys.executable, "-m", "recipes.preprocess", "--input", str(corpus), "--append-eod", "--overwrite",
                "--workers", str(n), "--output-prefix", str(folder / f"ours{n}")] for n in workers}
    runs: dict[str, list[dict]] = {}
    for _ in range(repeat):
        runs.setdefault("bound", []).append(timed([sys.executable, "-c", BOUND, str(corpus), tokenizer_json], folder))
        for n, command in ours.items():
            runs.setdefault(f"ours{n}", []).append(timed(command, folder))
    print(f"\n{megabytes:g} MB corpus: {documents:,} documents, {corpus.stat().st_size / MB:.1f} MB, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    bound = best(runs["bound"])
    print(f"  (b) bare tokenizer bound     {bound['wall_s']:7.2f} s")
    for n in workers:
        run = best(runs[f"ours{n}"])
        print(f"  (a) preprocess --workers {n}   {run['wall_s']:7.2f} s   bound/(a) = {bound['wall_s'] / run['wall_s']:.2f}"
              f"   peak RSS {run['peak_tree_mb']:,.0f} MB (tree), {run['max_rss_mb']:,.0f} MB (one process)")
    if tool:
        n = workers[0]
        command = [sys.executable, str(TOOL), "--input", str(corpus), "--output-prefix", str(folder / "tool"),
                   "--tokenizer-type", "HuggingFaceTokenizer", "--tokenizer-model", str(bundled_llama3_dir()),
                   "--append-eod", "--workers", str(n)]
        run = timed(command, folder)
        ratio = run["wall_s"] / best(runs[f"ours{n}"])["wall_s"]
        same = all((folder / f"tool_text_document{s}").read_bytes() == (folder / f"ours{n}_text_document{s}").read_bytes()
                   for s in (".bin", ".idx"))
        print(f"  (c) Megatron-LM tool --workers {n} {run['wall_s']:7.2f} s   speedup (c)/(a) = {ratio:.1f}x   "
              f"output byte-identical: {same}")


def startup(folder: Path, repeat: int) -> None:
    tiny = folder / "one.jsonl"
    tiny.write_text(json.dumps({"text": "第一 first"}) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "recipes.preprocess", "--input", str(tiny), "--append-eod", "--overwrite",
               "--output-prefix", str(folder / "one")]
    run = best([timed(command, folder) for _ in range(repeat)])
    print(f"start-up (one document, command to exit): {run['wall_s']:.2f} s, peak RSS {run['max_rss_mb']:,.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[20], help="corpus sizes in MB (default 20)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="preprocess --workers to try")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each; best kept (default 2)")
    parser.add_argument("--no-tool", action="store_true", help="skip Megatron-LM's tool (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        startup(Path(folder), args.repeat)
        for megabytes in args.mb:
            bench_size(Path(folder), megabytes, args.workers, args.repeat, not args.no_tool)
    return 0


if __name__ == "__main__":
    sys.exit(main())
