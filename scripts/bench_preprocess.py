"""Benchmark (not a test): ``python -m recipes.preprocess`` against the bare tokenizers and Megatron-LM's tool.

    python scripts/bench_preprocess.py                       # 20 MB, --workers 1
    python scripts/bench_preprocess.py --mb 20 100 --fuzz-mb 50
    python scripts/bench_preprocess.py --mb 20 100 --workers 1 2 --repeat 2

Every figure is wall clock of a fresh process, from its start to its exit (start-up included):
(b) the HF bound: a process that reads the JSONL, parses it and calls the ``tokenizers`` library's
    ``encode_batch_fast`` on ~1 MB batches on all cores, writing nothing;
(f) the fast path alone: the same with the tiktoken fast path (``recipes.data.fast_bpe``, routing on);
(a) ``python -m recipes.preprocess --input CORPUS --append-eod --workers N`` (tokenizer backend auto),
    with its peak memory (RSS summed over the process and its workers, sampled; and the kernel's max RSS
    of one process), and bound/(a): the goal is (b)/(a) >= 2 at 100 MB and >= 1.5 at 20 MB;
(h) the same with ``--tokenizer-backend hf`` (``--hf``), compared byte for byte with (a);
(c) Megatron-LM core_v0.15.3 ``tools/preprocess_data.py`` (the copy the tests use), same flags, up to
    ``--tool-max-mb``; its output is compared byte for byte with (a)'s;
start-up: (a) on a one-document input (the fast path's cache warm), the median of at least 5 runs
(``--startup-only``: only that). ``--fuzz-mb``: the fast path against ``tokenizers`` on that much
generated multilingual text (scripts/fuzz_fast_bpe.py). The corpus mixes
Chinese and English sentences of the bundled sample with Python source of the standard library. The
best of ``--repeat`` interleaved runs is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tests/unit/data/megatron_lm/tools/preprocess_data.py"
sys.path.insert(0, str(ROOT))

from recipes.data import sample_data_dir  # noqa: E402
from recipes.data.tokenizer import bundled_llama3_dir  # noqa: E402

MB = 1024 * 1024
BOUND = """
import json, sys
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[2] + "/tokenizer.json")
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
FAST = BOUND.replace("""from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[2] + "/tokenizer.json")""", """from recipes.data.doc_tokenizer import TokenizerChoice, open_tokenizer
tokenizer = open_tokenizer(TokenizerChoice(sys.argv[2]))
assert type(tokenizer).__name__ == "FastTokenizer", tokenizer.why_not_fast""").replace(
    "len(e.ids) for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False)",
    "len(ids) for ids in tokenizer.encode(batch)")


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
            "max_rss_mb": usage.ru_maxrss * 1024 / MB, "cpu_s": usage.ru_utime + usage.ru_stime}


def cpu(run: dict) -> str:
    """CPU seconds (user + system): on a loaded machine wall clock mostly measures the scheduler's share."""
    return f"{run['cpu_s']:7.2f} s CPU"


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda run: run["wall_s"])


def same_output(folder: Path, prefix: str, other: str) -> bool:
    read = lambda name, suffix: (folder / f"{name}_text_document{suffix}").read_bytes()  # noqa: E731
    return all(read(prefix, suffix) == read(other, suffix) for suffix in (".bin", ".idx"))


def bench_size(folder: Path, megabytes: float, args: argparse.Namespace) -> None:
    corpus = folder / f"corpus{megabytes:g}.jsonl"
    documents = build_corpus(corpus, megabytes)
    tokenizer = str(bundled_llama3_dir())
    preprocess = [sys.executable, "-m", "recipes.preprocess", "--input", str(corpus), "--append-eod", "--overwrite"]
    commands = {"bound": [sys.executable, "-c", BOUND, str(corpus), tokenizer],
                "fast": [sys.executable, "-c", FAST, str(corpus), tokenizer],
                **{f"ours{n}": preprocess + ["--workers", str(n), "--output-prefix", str(folder / f"ours{n}")]
                   for n in args.workers}}
    if args.hf:
        commands["hf"] = preprocess + ["--tokenizer-backend", "hf", "--output-prefix", str(folder / "hf")]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for name, command in commands.items():
            runs.setdefault(name, []).append(timed(command, folder))
    print(f"\n{megabytes:g} MB corpus: {documents:,} documents, {corpus.stat().st_size / MB:.1f} MB, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    bound = best(runs["bound"])["wall_s"]
    print(f"  (b) HF tokenizers bound           {bound:7.2f} s  {cpu(best(runs['bound']))}")
    print(f"  (f) tiktoken fast path alone      {best(runs['fast'])['wall_s']:7.2f} s  {cpu(best(runs['fast']))}"
          f"   (b)/(f) = {bound / best(runs['fast'])['wall_s']:.2f}")
    for n in args.workers:
        run = best(runs[f"ours{n}"])
        print(f"  (a) preprocess --workers {n}        {run['wall_s']:7.2f} s  {cpu(run)}   (b)/(a) = "
              f"{bound / run['wall_s']:.2f}"
              f"   peak RSS {run['peak_tree_mb']:,.0f} MB (tree), {run['max_rss_mb']:,.0f} MB (one process)")
    first = f"ours{args.workers[0]}"
    if args.hf:
        print(f"  (h) preprocess --tokenizer-backend hf {best(runs['hf'])['wall_s']:7.2f} s   "
              f"byte-identical to (a): {same_output(folder, 'hf', first)}")
    if megabytes <= args.tool_max_mb:
        command = [sys.executable, str(TOOL), "--input", str(corpus), "--output-prefix", str(folder / "tool"),
                   "--tokenizer-type", "HuggingFaceTokenizer", "--tokenizer-model", tokenizer,
                   "--append-eod", "--workers", str(args.workers[0])]
        run = timed(command, folder)
        print(f"  (c) Megatron-LM tool --workers {args.workers[0]}   {run['wall_s']:7.2f} s   (c)/(a) = "
              f"{run['wall_s'] / best(runs[first])['wall_s']:.1f}x   byte-identical to (a): "
              f"{same_output(folder, 'tool', first)}")


def startup(folder: Path, repeat: int) -> None:
    """Median wall clock (and CPU) of ``repeat`` (at least 5) runs on a one-document input, the cache warm."""
    tiny = folder / "one.jsonl"
    tiny.write_text(json.dumps({"text": "第一 first"}) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "recipes.preprocess", "--input", str(tiny), "--append-eod", "--overwrite",
               "--output-prefix", str(folder / "one")]
    timed(command, folder)  # the first run on a machine derives the fast path's ranks once (cached)
    runs = [timed(command, folder) for _ in range(max(repeat, 5))]
    wall = statistics.median(run["wall_s"] for run in runs)
    print(f"start-up (one document, command to exit, median of {len(runs)}): {wall:.2f} s wall "
          f"(min {min(run['wall_s'] for run in runs):.2f} s), "
          f"{statistics.median(run['cpu_s'] for run in runs):.2f} s CPU, "
          f"peak RSS {max(run['max_rss_mb'] for run in runs):,.0f} MB, load average {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[20], help="corpus sizes in MB (default 20)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="preprocess --workers to try")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each; best kept (default 2)")
    parser.add_argument("--tool-max-mb", type=float, default=20,
                        help="run Megatron-LM's tool (slow) on corpora up to this size (default 20; 0: never)")
    parser.add_argument("--hf", action="store_true", help="also time --tokenizer-backend hf and compare its bytes")
    parser.add_argument("--fuzz-mb", type=float, default=0, help="first fuzz the fast path on this much text")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up figure (no corpus)")
    args = parser.parse_args()
    failed = False
    if args.fuzz_mb:
        from fuzz_fast_bpe import fuzz

        count, differ = fuzz(str(bundled_llama3_dir()), args.fuzz_mb, seed=1)
        print(f"fuzz: {args.fuzz_mb:g} MB of generated multilingual text, {count:,} documents, "
              f"{differ} differ from tokenizers")
        failed = differ > 0
    with tempfile.TemporaryDirectory() as folder:
        startup(Path(folder), args.repeat)
        for megabytes in [] if args.startup_only else args.mb:
            bench_size(Path(folder), megabytes, args)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
