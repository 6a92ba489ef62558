"""Evaluate a finetuned model on a test.jsonl: BLEU, exact match, response length, latency, label metrics.

    python -m recipes.evaluate --model_path RUN/hf_model --test_file data/sft/test.jsonl --log_dir RUN

``--model_path`` may also be a NeMo 2 checkpoint (full or LoRA): it is exported to a temporary HF folder first.

Writes a JSON report (``--output``) and, with ``--log_dir``, a PNG of the run's training/validation loss.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import time
from pathlib import Path

from recipes.core.argcheck import Checks, Parser
from recipes.core.atomic import atomic_file, output_problems
from recipes.core.errors import cli_main, UsageError
from recipes.data.sft_files import read_jsonl
from recipes.data.sft_formats import brace_problem
from recipes.data.sft_tokens import SFTEncoder
from recipes.hf.inference import generate, load_for_inference
from recipes.hf.metrics import load_curves
from recipes.hf.model_source import hf_model_dir, model_problems

PROG = "python -m recipes.evaluate"
# sacrebleu's tokenizers that need no download (spm/flores fetch a model, *-mecab need MeCab).
BLEU_TOKENIZERS = ("13a", "zh", "intl", "char", "none")
MAX_NEW_TOKENS = 100_000
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
LABEL_MAX_WORDS = 3


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Checks]:
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_path", required=True,
                        help="HF model dir (<log_dir>/hf_model or hf_base), or a NeMo 2 checkpoint dir (full or "
                             "LoRA, e.g. <run>/checkpoints/<name>-last): exported to a temporary HF dir first")
    parser.add_argument("--test_file", required=True, help='JSONL rows {"input": ..., "output": ...}')
    parser.add_argument("--adapter", help="HF LoRA/DoRA adapter dir (<log_dir>/hf_adapter)")
    parser.add_argument("--max_new_tokens", default="64", help="tokens generated per row, at least 1 (default 64)")
    parser.add_argument("--log_dir", help="training run dir: its loss curves are plotted")
    parser.add_argument("--plot_runs", nargs="+", default=[], metavar="DIR",
                        help="earlier runs (e.g. the pretraining) plotted beside --log_dir in the same PNG")
    parser.add_argument("--baseline", metavar="REPORT",
                        help="an earlier report.json (e.g. of the untrained model): printed side by side")
    parser.add_argument("--output", help="report path (default <log_dir>/eval/report.json or ./eval_report.json)")
    parser.add_argument("--bleu_tokenize", help=f"sacrebleu tokenizer: {', '.join(BLEU_TOKENIZERS)} "
                                                "(default 13a; zh when references are CJK)")
    parser.add_argument("--labels", action="store_true",
                        help="also report accuracy and macro-F1 (automatic when references are short labels)")
    parser.add_argument("--prompt_template", default="{input} {output}", help="the template used in training")
    parser.add_argument("--limit", help="evaluate the first N rows only")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report (and its plot)")
    return parser.parse_collecting(argv)


def choose_bleu_tokenize(references: list[str], requested: str | None) -> str:
    if requested:
        return requested
    return "zh" if any(_CJK.search(ref) for ref in references) else "13a"


def normalize_label(text: str) -> str:
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line.strip().strip(string.punctuation + " ").lower()


def looks_like_labels(references: list[str]) -> bool:
    """Short answers drawn from a small set: classification-style data."""
    labels = {normalize_label(r) for r in references}
    short = all(len(r.split()) <= LABEL_MAX_WORDS and len(r) <= 32 for r in references)
    return short and len(labels) <= max(2, len(references) // 2)


def label_metrics(predictions: list[str], references: list[str]) -> dict:
    """Accuracy and macro-F1 over the reference label set (a prediction outside it counts as wrong)."""
    preds, refs = [normalize_label(p) for p in predictions], [normalize_label(r) for r in references]
    f1s = []
    for label in sorted(set(refs)):
        tp = sum(p == label and r == label for p, r in zip(preds, refs))
        predicted, actual = sum(p == label for p in preds), sum(r == label for r in refs)
        precision, recall = (tp / predicted if predicted else 0.0), tp / actual
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {"accuracy": sum(p == r for p, r in zip(preds, refs)) / len(refs), "macro_f1": sum(f1s) / len(f1s),
            "labels": sorted(set(refs))}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def text_metrics(predictions: list[str], references: list[str], tokenize: str) -> dict:
    import sacrebleu

    bleu = sacrebleu.corpus_bleu(predictions, [references], tokenize=tokenize)
    exact = sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)
    return {"bleu": bleu.score, "bleu_tokenize": tokenize, "exact_match": exact,
            "mean_response_chars": sum(len(p) for p in predictions) / len(predictions)}


def prompts(tokenizer, template: str, rows: list[dict]) -> list[list[int]]:
    """Each row's training context (BOS + the template up to ``{output}``), tokenized as in training."""
    encoder = SFTEncoder(tokenizer, template, "--prompt_template")
    return [encoder.prompt_ids(row) for row in rows]


def run_generation(args, rows: list[dict]) -> tuple[list[str], list[int], list[float]]:
    with hf_model_dir(args.model_path, PROG) as model_dir:
        model, tokenizer = load_for_inference(model_dir, args.adapter)
    predictions, lengths, latencies = [], [], []
    for prompt in prompts(tokenizer, args.prompt_template, rows):
        started = time.perf_counter()
        new_ids = generate(model, tokenizer, prompt, args.max_new_tokens)
        latencies.append(time.perf_counter() - started)
        predictions.append(tokenizer.decode(new_ids, skip_special_tokens=True).strip())
        lengths.append(len(new_ids))
    return predictions, lengths, latencies


def plot_curves(log_dirs: list[str], path: Path) -> str | None:
    """One PNG, one panel per run (training and validation loss against step)."""
    runs = [(d, load_curves(d)) for d in log_dirs]
    runs = [(d, curves) for d, curves in runs if any(curves.values())]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for ax, (log_dir, curves) in zip(axes[0], runs):
        for key, points in curves.items():
            if points:
                ax.plot(*zip(*points), marker="o" if key == "val_loss" else None, label=key)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(Path(log_dir).name)
        ax.legend()
    with atomic_file(path) as temp:
        fig.savefig(temp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


COMPARED = ("exact_match", "bleu", "accuracy", "macro_f1", "mean_response_tokens")


def comparison(report: dict, baseline_path: str) -> str:
    """Metric lines: baseline next to this report."""
    baseline = json.loads(Path(baseline_path).read_text())
    lines = [f"{'':22}{'baseline':>10}{'this model':>12}   (baseline: {baseline.get('model_path')})"]
    for key in COMPARED:
        if key in report and key in baseline:
            lines.append(f"  {key:20}{baseline[key]:>10.3f}{report[key]:>12.3f}")
    return "\n".join(lines)


def default_output(args) -> Path:
    if args.output:
        return Path(args.output)
    return Path(args.log_dir) / "eval" / "report.json" if args.log_dir else Path("eval_report.json")


def check_args(args, checks: Checks) -> list[dict]:
    """Every problem of the command line, before the model is loaded; the test rows."""
    args.max_new_tokens = checks.integer("--max_new_tokens", args.max_new_tokens, low=1, high=MAX_NEW_TOKENS)
    args.limit = checks.integer("--limit", args.limit, low=1)
    checks.choice("--bleu_tokenize", args.bleu_tokenize, BLEU_TOKENIZERS)
    checks.add(*model_problems(args.model_path, args.adapter))
    rows = _test_rows(args, checks)
    if args.log_dir and not Path(args.log_dir).is_dir():
        checks.add(f"--log_dir: {args.log_dir} is not a directory; pass the training run's log dir")
    for flag, folder in [("--plot_runs", d) for d in args.plot_runs]:
        if not Path(folder).is_dir():
            checks.add(f"{flag}: {folder} is not a directory; pass the training run's log dir")
    if args.baseline and not Path(args.baseline).is_file():
        checks.add(f"--baseline: {args.baseline} not found; pass a report.json written by {PROG}")
    output = default_output(args)
    checks.add(*output_problems(output, args.overwrite, "--output", folder=False, inputs=[args.test_file]))
    if (args.log_dir or args.plot_runs) and not checks.problems:
        checks.add(*output_problems(output.with_suffix(".png"), args.overwrite, "--output", folder=False))
    checks.done()
    return rows


def _test_rows(args, checks: Checks) -> list[dict]:
    if not checks.input_file("--test_file", args.test_file, 'pass a JSONL file of {"input": ..., "output": ...} rows'):
        return []
    try:
        rows = read_jsonl(args.test_file)[: args.limit]
    except UsageError as exc:
        checks.add(f"--test_file {exc}")
        return []
    except (UnicodeDecodeError, TypeError):
        checks.add(f"--test_file {args.test_file}: not UTF-8 JSONL objects; pass a JSONL file of "
                   '{"input": ..., "output": ...} rows')
        return []
    if not rows:
        checks.add(f"--test_file: {args.test_file} has no rows")
    for row in rows:
        problems = _template_problems(args.prompt_template, row)
        if problems:
            checks.add(*problems)
            break
    return rows


def _template_problems(template: str, row: dict) -> list[str]:
    """--prompt_template must format every row: a stray brace or a field the rows lack is named here, not a
    KeyError later (its fields read as the prompt building cuts them, recipes.data.sft_tokens)."""
    problem = brace_problem(template, doubled_is_literal=False)  # cut at its fields as in training (sft_tokens)
    if problem:
        return [f"--prompt_template {template!r}: {problem}"]
    fields = re.findall(r"{(\w+)}", template)
    if "output" not in fields:
        return [f"--prompt_template {template!r}: must contain {{output}}"]
    missing = sorted({name for name in fields if name != "output" and name not in row})
    if missing:
        return [f"--prompt_template {template!r}: the rows have no field {missing[0]!r}; use {{input}} and "
                f"{{output}} or fields of the rows ({', '.join(sorted(row))})"]
    return []


@cli_main(PROG)
def main(argv: list[str] | None = None) -> int:
    args, checks = parse_args(argv)
    rows = check_args(args, checks)
    references = [str(row["output"]) for row in rows]
    predictions, lengths, latencies = run_generation(args, rows)
    report = {"model_path": args.model_path, "adapter": args.adapter, "test_file": args.test_file,
              "num_samples": len(rows), **text_metrics(predictions, references,
                                                       choose_bleu_tokenize(references, args.bleu_tokenize)),
              "mean_response_tokens": sum(lengths) / len(lengths),
              "latency_p50_s": percentile(latencies, 0.5), "latency_p95_s": percentile(latencies, 0.95)}
    if args.labels or looks_like_labels(references):
        report.update(label_metrics(predictions, references))
    if args.baseline:
        report["baseline"] = {k: v for k, v in json.loads(Path(args.baseline).read_text()).items()
                              if k in COMPARED or k == "model_path"}
    report["samples"] = [{"input": r["input"], "reference": ref, "prediction": p}
                         for r, ref, p in zip(rows, references, predictions)][:20]
    output = write_outputs(args, report)
    summary = {k: v for k, v in report.items() if k not in ("samples", "labels")}
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if args.baseline:
        print(comparison(report, args.baseline))
    print(f"report: {output}", file=sys.stderr)
    return 0


def write_outputs(args, report: dict) -> Path:
    """The plot, then the report, each under a temporary name renamed into place."""
    output = default_output(args)
    if args.log_dir or args.plot_runs:
        report["loss_plot"] = plot_curves(args.plot_runs + [d for d in [args.log_dir] if d], output.with_suffix(".png"))
    with atomic_file(output) as temp:
        temp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return output
