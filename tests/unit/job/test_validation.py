"""Pre-flight validation: one line per problem naming the flag and the fix, all shown, exit 2, nothing written."""

import os
from pathlib import Path

import pytest

from recipes import finetune, pretrain
from testlib import write_mmap


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_cli(entry, argv, capsys, root):
    before = snapshot(root)
    code = (pretrain if entry == "pretrain" else finetune).main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert snapshot(root) == before, "validation must write nothing"
    return [line for line in err.splitlines() if "error:" in line]


CASES = [
    ("pretrain", ["-N", "1", "-G", "8", "-T", "3", "-C", "1"], "TP×PP×CP = 3 does not divide nodes×GPUs = 8"),
    ("pretrain", ["-G", "8", "-T", "2", "-C", "1", "-g", "6"], "-g/--global_batch_size: 6 is not divisible"),
    ("pretrain", ["-G", "8", "-T", "1", "--sequence_parallel"], "--sequence_parallel: needs tensor parallelism"),
    ("pretrain", ["-G", "8", "-C", "4", "-s", "4100"], "must be divisible by 2×CP = 8"),
    ("pretrain", ["-M", "tiny", "-s", "100000"], "exceeds what tiny supports (2048)"),
    ("pretrain", ["--max_steps", "0"], "--max_steps: 0 must be > 0"),
    ("pretrain", ["--lr", "-1"], "--lr: -1.0 must be a finite number > 0"),
    ("pretrain", ["-D", "{tmp}/nope_text_document"], "nope_text_document.bin/.idx not found"),
    ("pretrain", ["-D", "{tmp}/only_bin"], "only_bin.bin has no only_bin.idx beside it"),
    ("pretrain", ["-D", "0.5 {tmp}/a 0.5"], "weighted form needs pairs"),
    ("finetune", ["-D", "{tmp}/empty_folder"], "has no training.jsonl"),
    ("finetune", ["-D", "{tmp}/bad_json"], "training.jsonl:1: not valid JSON"),
    ("finetune", ["-D", "{tmp}/blank_first"], "training.jsonl:1: empty line"),
    ("finetune", ["-D", "{tmp}/wrong_fields"], "needs \"input\" and \"output\" fields"),
    ("finetune", [], "-D/--dataset_path: required here"),
    ("pretrain", ["--executor", "slurm"], "-a/--account: required with --executor slurm"),
    ("pretrain", ["--executor", "slurm", "-a", "x", "-N", "0"], "-N/--num_nodes: 0 must be >= 1"),
    ("pretrain", ["--executor", "slurm", "-a", "x", "-i", "img", "--container_mounts", "/elsewhere:/elsewhere",
                  "-D", "{tmp}/data/wiki_text_document"], "is outside every mount; add"),
    ("pretrain", ["--results_dir", "{tmp}/a_file/results"], "--results_dir: cannot write"),
    ("pretrain", ["--fp8", "--fp8_recipe", "fancy"], "--fp8_recipe: unknown recipe 'fancy'"),
    ("pretrain", ["-n", "{tmp}/ckpt", "--hf_model_id", "meta-llama/Llama-3.1-70B"], "disagrees with -n/--nemo_model"),
    ("pretrain", ["-M", "llama4_400b"], "-M/--model: unknown model 'llama4_400b'"),
    ("pretrain", ["-n", "{tmp}/missing_ckpt"], "-n/--nemo_model: "),
    ("pretrain", ["-M", "llama32_1b", "--cpu", "--backend", "megatron"], "--cpu: the Megatron backend runs on CPU for "
     "debug-size models only"),
    ("pretrain", ["-M", "tiny", "--cpu", "--backend", "megatron", "--fp8", "--mock_data"], "--fp8: needs a Hopper GPU"),
    ("finetune", ["-D", "{tmp}/data/alpaca", "--packed_sequence", "-m", "2", "-g", "16"], "--packed_sequence: needs"),
]


@pytest.fixture
def bad_inputs(isolated, sft_folder):
    tmp = isolated
    write_mmap(tmp / "data" / "wiki_text_document", [[1, 2, 3]])
    (tmp / "only_bin.bin").write_bytes(b"\0" * 8)
    (tmp / "a_file").write_text("not a folder")
    (tmp / "empty_folder").mkdir()
    for name, first in (("bad_json", "{not json\n"), ("blank_first", "\n"), ("wrong_fields", '{"q": 1}\n')):
        (tmp / name).mkdir()
        (tmp / name / "training.jsonl").write_text(first)
    (tmp / "ckpt" / "context").mkdir(parents=True)
    (tmp / "ckpt" / "context" / "model.yaml").write_text("pretrained_model_name: meta-llama/Llama-3.1-8B\n")
    return tmp


@pytest.mark.parametrize("entry,argv,expected", CASES, ids=[c[2][:40] for c in CASES])
def test_each_case_is_one_line_naming_the_flag(entry, argv, expected, bad_inputs, capsys):
    argv = [a.replace("{tmp}", str(bad_inputs)) for a in argv]
    errors = run_cli(entry, argv + ["--dryrun"], capsys, bad_inputs)
    assert any(expected in line for line in errors), errors
    # short apart from the paths it names (which are as long as this machine's temp folder makes them)
    assert all(len(line.replace(str(bad_inputs), "TMP")) < 400 for line in errors)


def test_megatron_on_a_machine_without_enough_gpus(bad_inputs, capsys):
    from recipes.job.plan import local_gpu_count

    if local_gpu_count() >= 8:
        pytest.skip("this machine has 8 GPUs")
    errors = run_cli("pretrain", ["-M", "llama32_1b", "-G", "8", "--max_steps", "5"], capsys, bad_inputs)
    assert any("-G/--num_gpus: 8 GPU(s) asked but this machine has 0" in e for e in errors), errors


def test_all_problems_are_reported_together(bad_inputs, capsys):
    errors = run_cli("pretrain", ["--executor", "slurm", "-G", "8", "-T", "3", "--max_steps", "0", "--lr", "0",
                                  "--fp8_recipe", "x", "--dryrun"], capsys, bad_inputs)
    # account, TP, max_steps, lr, fp8_recipe name, --fp8_recipe without --fp8, -D (or --mock_data) required
    assert len(errors) == 7, errors


def test_peft_on_pretrain_is_rejected(bad_inputs, capsys):
    errors = run_cli("pretrain", ["--peft", "lora", "-C", "1", "--mock_data", "--dryrun"], capsys, bad_inputs)
    assert errors == ["recipes.pretrain: error: --peft lora: PEFT is for finetuning; "
                      "use python -m recipes.finetune --peft lora"]


def test_unwritable_results_dir_for_non_root(bad_inputs, capsys):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere; /proc case above covers the check")
    locked = bad_inputs / "locked"
    locked.mkdir(mode=0o500)
    errors = run_cli("pretrain", ["--results_dir", str(locked / "r"), "--dryrun"], capsys, bad_inputs)
    assert any("--results_dir" in e for e in errors)
