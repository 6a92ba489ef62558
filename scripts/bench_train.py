"""Benchmark (not a test): training throughput of the small-model backend, tokens/s for the tiny model.

    python scripts/bench_train.py                          # CPU (and CUDA when present), pretrain + LoRA
    python scripts/bench_train.py --steps 20 --seq_length 512 --micro_batch_size 8 --devices cuda

Runs the real ``recipes.hf.task.train`` (Lightning loop, data loader, callbacks) on random-token mmap
data of fixed length, so pretrain and LoRA rates are comparable. tokens/s = tokens per step over the
median step time (robust to a busy neighbour), also over the mean; the first ``--warmup`` steps are
excluded (allocator and kernel warm-up); with ``--repeat`` the best run is kept.
Checkpoint saves and the final export happen outside the timed steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seq_length", type=int, default=256)
    parser.add_argument("--micro_batch_size", type=int, default=4)
    parser.add_argument("--tasks", nargs="+", default=["pretrain", "lora"], choices=["pretrain", "lora", "dora"])
    parser.add_argument("--devices", nargs="+", default=None, choices=["cpu", "cuda"],
                        help="default: cpu, plus cuda when a GPU is visible")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per device and task; the best is kept (a busy neighbour skews it less)")
    return parser.parse_args(argv)


def write_random_corpus(prefix: Path, tokens: int, seed: int = 0) -> Path:
    import numpy as np
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    rng = np.random.default_rng(seed)
    builder = IndexedDatasetBuilder(str(prefix) + ".bin", dtype=np.int32)
    for _ in range(max(1, tokens // 1000)):
        doc = np.append(rng.integers(0, 128000, size=999), 128001).astype(np.int32)
        builder.add_document(torch.from_numpy(doc), [len(doc)])
    builder.finalize(str(prefix) + ".idx")
    return prefix


def bench_one(device: str, task: str, corpus: Path, args, workdir: Path) -> dict:
    from recipes.hf import config as C
    from recipes.hf.metrics import read_metrics
    from recipes.hf.task import train

    log_dir = workdir / f"{device}_{task}"
    gbs = args.micro_batch_size
    train(model=C.ModelConfig(name="tiny"),
          data=C.MmapDataConfig(paths=str(corpus), seq_length=args.seq_length, global_batch_size=gbs,
                                micro_batch_size=args.micro_batch_size, split="100,0,0"),
          trainer=C.TrainerConfig(max_steps=args.steps, val_check_interval=args.steps, limit_val_batches=0,
                                  log_every_n_steps=1, accelerator="gpu" if device == "cuda" else "cpu",
                                  enable_progress_bar=False),
          optim=C.OptimConfig(config=C.OptimizerConfig(lr=1e-3, min_lr=1e-4)),
          log=C.LogConfig(log_dir=str(log_dir), ckpt=C.CheckpointConfig(every_n_train_steps=10 ** 9, keep_last_n=1)),
          resume=C.ResumeConfig(resume_if_exists=False),
          peft=C.PeftConfig(method=task) if task != "pretrain" else None, task=task)
    rows = [r for r in read_metrics(log_dir / "metrics.jsonl") if "step_time_s" in r and r["step"] > args.warmup]
    step_times = [r["step_time_s"] for r in rows]
    tokens = gbs * args.seq_length
    return {"device": device, "task": task, "seq_length": args.seq_length, "micro_batch_size": gbs,
            "timed_steps": len(rows), "tokens_per_s": tokens / statistics.median(step_times),
            "mean_tokens_per_s": tokens * len(rows) / sum(step_times), "median_step_s": statistics.median(step_times)}


def main(argv=None) -> int:
    import torch

    args = parse_args(argv)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        needed = (args.steps + 1) * args.micro_batch_size * (args.seq_length + 1)
        corpus = write_random_corpus(workdir / "random_text_document", needed + 2000)
        for device in devices:
            for task in args.tasks:
                runs = [bench_one(device, task, corpus, args, workdir / str(i)) for i in range(args.repeat)]
                results.append(max(runs, key=lambda r: r["tokens_per_s"]))
    print(f"\n{'device':<7}{'task':<10}{'seq':>6}{'mbs':>5}{'steps':>7}{'tokens/s':>10}{'mean':>8}{'step s':>9}")
    for r in results:
        print(f"{r['device']:<7}{r['task']:<10}{r['seq_length']:>6}{r['micro_batch_size']:>5}{r['timed_steps']:>7}"
              f"{r['tokens_per_s']:>10.0f}{r['mean_tokens_per_s']:>8.0f}{r['median_step_s']:>9.3f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
