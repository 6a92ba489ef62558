"""Bad pipeline files: every problem at once, one line each naming the stage and key, exit 2, nothing run or
written. A stage's options are checked by its own command: the oracle for those lines is that command's
own error for the same option (run as a user would), not text kept here."""

from __future__ import annotations

import subprocess
import sys

import yaml
from bad_inputs_helpers import run_bad
from testlib import REPO, run_module

from recipes.pipelines.command import main


def _write(path, text: str):
    path.write_text(text)
    return str(path)


def _command_error(module: str, *argv: str, cwd) -> str:
    """The message of ``python -m module argv``'s own error line (after its ``error: ``)."""
    proc = run_module(module, *argv, cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    return next(line for line in proc.stderr.splitlines() if "error: " in line).split("error: ", 1)[1]


def test_every_problem_of_a_file_together_naming_stage_and_key(isolated, capsys):
    pipeline = _write(isolated / "bad.yaml", """
stages:
  pretrain: {M: tiny, backend: hf, max_stepz: 3, D: data/none_text_document, executor: slurm}
  preprocess: {input: data/missing.jsonl, output-prefix: data/x}
  finetuning: {}
  evaluate: {model_path: results/run/hf_model, test_file: data/none.jsonl, baseline_untrained: 3}
""")
    lines = run_bad(main, [pipeline, "finetune.max_steps=2"], capsys, isolated)
    pretrain_data = _command_error("recipes.pretrain", "-M", "tiny", "--backend", "hf", "-D", "data/none_text_document",
                                   cwd=isolated)
    evaluate = _command_error("recipes.evaluate", "--model_path", "results/run/hf_model", "--test_file",
                              "data/none.jsonl", cwd=isolated)
    expected = [
        "stage preprocess: out of order (after pretrain)",
        "stage finetuning: unknown stage; stages are preprocess, prepare_sft, import, pretrain, finetune",
        "finetune.max_steps=2: stage finetune: not in this pipeline file",
        "stage pretrain: max_stepz: not an option of python -m recipes.pretrain",
        "stage pretrain: executor: set for the whole pipeline",
        f"stage pretrain: {pretrain_data}",
        "stage preprocess: --input data/missing.jsonl: not found",
        "stage evaluate: baseline_untrained: 3: write true or false",
    ]
    for needle in expected:
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    # The evaluate command reports two problems for these two options; the pipeline shows both.
    assert any(f"stage evaluate: {evaluate}" in line for line in lines), (evaluate, lines)
    assert len(lines) == len(expected) + 2, lines
    assert not (isolated / "results").exists() and not (isolated / "nemorun_home").exists()


def test_a_bad_value_is_refused_by_the_commands_own_parser(isolated, capsys):
    pipeline = _write(isolated / "p.yaml", "stages:\n  pretrain: {M: tiny, backend: hf, mock_data: true}\n")
    lines = run_bad(main, [pipeline, "pretrain.lr=abc"], capsys, isolated)
    own = _command_error("recipes.pretrain", "-M", "tiny", "--lr", "abc", cwd=isolated)
    assert lines == [f"recipes.pipeline: error: stage pretrain: {own}; see python -m recipes.pretrain --help"]
    lines = run_bad(main, [pipeline, "pretrain.mock_data=yes please"], capsys, isolated)
    assert lines[0] == "recipes.pipeline: error: stage pretrain: mock_data: a switch (--mock_data); write true or false"
    assert len(lines) == 2 and "stage pretrain: -D/--dataset_path: required" in lines[1]  # without the switch


def test_bad_yaml_names_the_line(isolated, capsys):
    text = "stages:\n  pretrain: {M: tiny\n"
    pipeline = _write(isolated / "y.yaml", text)
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:  # PyYAML's own position of the error
        line = exc.problem_mark.line + 1
    lines = run_bad(main, [pipeline], capsys, isolated)
    assert len(lines) == 1 and f"y.yaml: not valid YAML at line {line}," in lines[0], lines
    for text, needle in (("[1, 2]\n", "a pipeline file is a mapping"), ("stages: {}\n", "stages: a mapping"),
                         ("stage: {}\nstages: {chat: {prompt: hi}}\n", "stage: unknown key")):
        lines = run_bad(main, [_write(isolated / "z.yaml", text)], capsys, isolated)
        assert any(needle in line for line in lines), (text, lines)
    lines = run_bad(main, [str(isolated / "absent.yaml")], capsys, isolated)
    assert len(lines) == 1 and "absent.yaml: cannot read the pipeline file" in lines[0]


def test_secrets_are_not_expanded_into_command_lines(isolated, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecretsecret")
    pipeline = _write(isolated / "s.yaml", "stages:\n  chat: {model_path: m, prompt: '${HF_TOKEN}'}\n")
    lines = run_bad(main, [pipeline], capsys, isolated)
    assert any("${HF_TOKEN}: a secret never goes into a command line" in line for line in lines), lines
    assert not any("hf_secret" in line for line in lines)


def test_help_imports_neither_nemo_nor_torch():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "recipes.pipeline", "--help"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and "STAGE.KEY=VALUE" in proc.stdout
    modules = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not modules & {"nemo", "torch", "nemo_run", "lightning"}, modules & {"nemo", "torch", "nemo_run"}


def test_slurm_settings_checked_once_and_refused_without_slurm(isolated, capsys):
    (isolated / "text.jsonl").write_text('{"text": "a"}\n')
    pipeline = _write(isolated / "p.yaml", "stages:\n  preprocess: {input: text.jsonl, output-prefix: out/t}\n")
    lines = run_bad(main, [pipeline, "--executor", "slurm", "-p", "a;b", "--cpu_partition", "x y", "--retries", "-1"],
                    capsys, isolated)
    for needle in ("-a/--account: required with --executor slurm", "--retries -1: must be at least 0",
                   "-p/--partition: 'a;b' is not a Slurm name", "--cpu_partition: 'x y' is not a Slurm name"):
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    assert len(lines) == 4, lines
    lines = run_bad(main, [pipeline, "-a", "acct", "--detach", "--retries", "2"], capsys, isolated)
    assert [line.split("error: ", 1)[1] for line in lines] == [
        "--account: a Slurm setting; add --executor slurm or drop it",
        "--detach: a Slurm setting; add --executor slurm or drop it",
        "--retries: a Slurm setting; add --executor slurm or drop it"]


def test_a_site_file_that_names_no_file_is_refused_for_a_slurm_pipeline(isolated, capsys, monkeypatch):
    (isolated / "text.jsonl").write_text('{"text": "a"}\n')
    (isolated / "site.d").mkdir()
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(isolated / "site.d"))
    pipeline = _write(isolated / "p.yaml", "stages:\n  preprocess: {input: text.jsonl, output-prefix: out/t}\n")
    lines = run_bad(main, [pipeline, "--executor", "slurm", "-a", "acct"], capsys, isolated)
    assert [line.split("error: ", 1)[1] for line in lines] == [
        f"RECIPES_SITE_CONFIG={isolated / 'site.d'}: is a folder, not a settings file; point RECIPES_SITE_CONFIG at "
        "a YAML file (or /dev/null for none)"]


def test_status_of_a_damaged_pipeline_record_is_exit_2_naming_the_file(isolated, capsys):
    """The registry entry, the launch record and a stage manifest: none is read as "not there"."""
    from bad_inputs_helpers import qa_rows, write_jsonl
    from recipes import status

    write_jsonl(isolated / "qa.jsonl", qa_rows(20))
    pipeline = _write(isolated / "p.yaml", "name: qa\nstate_dir: state\nstages:\n"
                                           "  prepare_sft: {input: qa.jsonl, output_dir: sft}\n")
    assert main([pipeline, "-y"]) == 0
    assert status.main(["qa"]) == 0 and "DONE" in capsys.readouterr().out
    registry = isolated / "nemorun_home/pipelines/qa.json"
    for path, damage, words in [
        (isolated / "state/prepare_sft.json", "{cut", "unreadable record"),
        (isolated / "state/pipeline.json", "", "unreadable record"),
        (isolated / "state/pipeline.json", None, "missing (the pipeline's launch record"),
        (registry, "[]", "unreadable record (not a JSON object)"),
    ]:
        saved = path.read_bytes()
        path.unlink() if damage is None else path.write_text(damage)
        assert status.main(["qa"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"recipes.status: error: {path}: {words}"), err
        path.write_bytes(saved)
    assert status.main(["qa"]) == 0
