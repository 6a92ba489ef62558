"""recipes.evaluate: metric functions on hand-computed cases, and the CLI on a trained tiny model whose
references are (half) its own greedy answers, computed independently with plain transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hf_helpers import subprocess_env


def test_metrics_known_answers():
    from recipes.evaluation.evaluate import choose_bleu_tokenize, label_metrics, looks_like_labels, percentile, text_metrics

    same = text_metrics(["the cat sat on the mat"], ["the cat sat on the mat"], "13a")
    assert same["bleu"] == pytest.approx(100.0) and same["exact_match"] == 1.0
    labels = label_metrics(["pos", "Neg.", "pos", "neu"], ["pos", "neg", "neg", "neu"])
    # neg: P=1 R=1/2 F1=2/3; neu: F1=1; pos: P=1/2 R=1 F1=2/3
    assert labels["accuracy"] == 0.75 and labels["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert choose_bleu_tokenize(["今天天气很好"], None) == "zh"
    assert choose_bleu_tokenize(["fine weather"], None) == "13a"
    assert choose_bleu_tokenize(["今天"], "char") == "char"
    zh = text_metrics(["今天天气很好"], ["今天天气很好"], "zh")
    assert zh["bleu"] == pytest.approx(100.0)
    assert percentile([4, 1, 3, 2], 0.5) == 2.5 and percentile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)
    assert looks_like_labels(["yes", "no", "yes", "no"]) and not looks_like_labels(["a long free-form answer"] * 2)


def _greedy_answers(model_dir: str, rows: list[dict], max_new_tokens: int) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    answers = []
    for row in rows:
        ids = torch.tensor([[tok.bos_token_id] + tok.encode(row["input"], add_special_tokens=False)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<|eot_id|>")],
                             pad_token_id=tok.eos_token_id)
        answers.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


def test_evaluate_cli_report_and_loss_plot(sft_run, tmp_path, capsys):
    from recipes.evaluation.evaluate import main

    opts, result = sft_run
    rows = [{"input": f"Question: what is {i} plus one?", "output": ""} for i in range(6)]
    answers = _greedy_answers(result.exported["model"], rows, max_new_tokens=4)
    for i, row in enumerate(rows):  # half right (the model's own answer), half surely wrong
        row["output"] = answers[i] if i % 2 == 0 else "zzz"
    test_file = tmp_path / "test.jsonl"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report_path = tmp_path / "report.json"
    code = main(["--model_path", result.exported["model"], "--test_file", str(test_file), "--max_new_tokens", "4",
                 "--log_dir", opts.log_dir, "--output", str(report_path), "--labels"])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["num_samples"] == 6 and report["exact_match"] == 0.5 and report["accuracy"] == 0.5
    assert [s["prediction"] for s in report["samples"]] == answers
    assert 0 < report["mean_response_tokens"] <= 4 and report["bleu_tokenize"] == "13a"
    assert 0 < report["latency_p50_s"] <= report["latency_p95_s"]
    plot = Path(report["loss_plot"])
    assert plot == report_path.with_suffix(".png") and plot.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(capsys.readouterr().out)["exact_match"] == 0.5


def test_evaluate_with_adapter_and_bad_paths(lora_run, sft_dir, tmp_path, capsys):
    from recipes.evaluation.evaluate import main

    opts, result = lora_run
    out = tmp_path / "lora.json"
    assert main(["--model_path", result.exported["base"], "--adapter", result.exported["adapter"],
                 "--test_file", str(sft_dir / "test.jsonl"), "--max_new_tokens", "2", "--limit", "2",
                 "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["num_samples"] == 2 and "macro_f1" in report  # "1".."4": label-style references
    capsys.readouterr()
    assert main(["--model_path", str(tmp_path), "--test_file", str(sft_dir / "test.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model_path" in err[0] and "config.json" in err[0]


def test_entry_points_import_without_torch():
    code = ("import sys, recipes.evaluate, recipes.chat, recipes.merge_lora, recipes.hf.model_source; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "recipes.evaluate", "--help"], capture_output=True,
                               text=True, env=subprocess_env())
    assert help_text.returncode == 0 and "--bleu_tokenize" in help_text.stdout
    for module in ("recipes.evaluate", "recipes.chat"):  # --help says NeMo checkpoints work, without importing them
        code = (f"import sys\nfrom {module} import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                "print('IMPORTED', sorted(m for m in ('torch', 'nemo', 'transformers') if m in sys.modules))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env())
        assert "NeMo 2 checkpoint" in " ".join(proc.stdout.split()) and "IMPORTED []" in proc.stdout, proc.stderr


def test_loss_curves_from_metrics_file_or_tensorboard_events(sft_run, tmp_path):
    import shutil

    from recipes.hf.metrics import load_curves

    opts, _ = sft_run
    from_jsonl = load_curves(opts.log_dir)
    assert [s for s, _ in from_jsonl["train_loss"]] == list(range(1, 7))
    assert [s for s, _ in from_jsonl["val_loss"]] == [3, 6]
    shutil.copytree(Path(opts.log_dir) / "tb_logs", tmp_path / "tb_logs")  # e.g. a run without metrics.jsonl
    from_tb = load_curves(tmp_path)
    assert len(from_tb["train_loss"]) == 6 and len(from_tb["val_loss"]) == 2
    assert [v for _, v in from_tb["train_loss"]] == pytest.approx([v for _, v in from_jsonl["train_loss"]])
