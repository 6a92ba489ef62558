"""The memory table in dry-runs, the refusal of a layout that cannot fit, and the fix it names."""

import re
from pathlib import Path

import pytest

from recipes import finetune, pretrain
from testlib import run_module
from nemo.collections import llm  # noqa: E402

# NeMo's lazy recipe modules import megatron's inference code, which enables faulthandler on stderr:
# load them once here, outside capsys.
assert llm.llama31_8b and llm.llama31_70b

EIGHT_GPUS = ["--executor", "torchrun", "-G", "8", "--mock_data", "--max_steps", "10", "--dryrun"]


def run(entry, argv, capsys):
    code = (pretrain if entry == "pretrain" else finetune).main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def table_peak(out: str) -> float:
    return float(re.search(r"# peak: stage \d+, ([\d.]+) GiB", out).group(1))


def test_8b_dryrun_prints_the_table_with_the_recipe_layout(isolated, capsys):
    code, out, err = run("pretrain", EIGHT_GPUS + ["--gpu_memory", "80"], capsys)
    assert code == 0, err
    assert "# memory per GPU (GiB): TP 1 PP 1 CP 2 DP 4, seq 8192, MBS 1, GBS 512" in out
    assert re.search(r"# peak: stage 0, [\d.]+ GiB of 80.0 GiB: fits", out)


def test_70b_dryrun_prints_every_pipeline_stage(isolated):
    """A Slurm dry-run (in a subprocess: NeMo-Run's tunnel reads stdin, which capsys replaces)."""
    result = run_module("recipes.pretrain", "--executor", "slurm", "-a", "acct", "-M", "70B", "-N", "4", "-G", "8",
                        "--mock_data", "--max_steps", "10", "--dryrun", "--yes", "--packager", "none", cwd=isolated)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "TP 4 PP 4 (VPP 5) CP 2 DP 1" in out and "SP on" in out
    stages = re.findall(r"^#\s+(\d)\s+20\s", out, flags=re.M)
    assert stages == ["0", "1", "2", "3"]
    assert out.index("# memory per GPU") < out.index("sbatch script")  # before the submission it describes
    assert "GPU size unknown" in result.stderr  # Slurm without --gpu_memory: printed, not checked


def test_a_layout_that_cannot_fit_is_refused_with_fixes_that_fit(isolated, capsys):
    argv = EIGHT_GPUS + ["-C", "1", "--gpu_memory", "80"]
    code, out, err = run("pretrain", argv, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "GiB over the 80.0 GiB GPU (--gpu_memory)" in lines[0], err
    assert "-C 2" in lines[0] and "--no_memory_check" in lines[0]
    assert not (isolated / "results").exists() and not (isolated / "nemorun_home").exists()
    # Each fix it names passes: the CLI flags and the recompute overrides (read from the built recipe).
    fixes = re.findall(r"(?:fits with | or )(.+?) \(([\d.]+) GiB\)", lines[0])
    assert len(fixes) >= 2, lines[0]
    for fix, promised in fixes:
        code, out, err = run("pretrain", argv + fix.split(), capsys)
        assert code == 0, (fix, err)
        assert table_peak(out) == pytest.approx(float(promised), abs=0.05), fix


def test_no_memory_check_runs_anyway_and_still_prints(isolated, capsys):
    code, out, err = run("pretrain", EIGHT_GPUS + ["-C", "1", "--gpu_memory", "80", "--no_memory_check"], capsys)
    assert code == 0, err
    assert "DOES NOT FIT" in out


def test_site_file_gpu_memory_and_bad_values(isolated, capsys, monkeypatch):
    site = Path(isolated) / "site.yaml"
    site.write_text("gpu_memory: 40\n")
    monkeypatch.setenv("RECIPES_SITE_CONFIG", str(site))
    code, out, err = run("pretrain", EIGHT_GPUS, capsys)
    assert code == 2 and "over the 40.0 GiB GPU (site setting gpu_memory)" in err
    code, _, err = run("pretrain", EIGHT_GPUS + ["--gpu_memory", "-3"], capsys)
    assert code == 2 and "--gpu_memory: -3.0 is not a positive number of GiB" in err


def test_lora_finetune_reads_the_adapter_from_the_recipe(isolated, capsys, sft_folder):
    code, out, err = run("finetune", [a for a in EIGHT_GPUS if a != "--mock_data"] + ["--peft", "lora", "-D", str(sft_folder), "--gpu_memory", "80"], capsys)
    assert code == 0, err
    assert "lora r=8" in out and "distributed optimizer off" in out


def test_small_model_backend_is_not_estimated(isolated, capsys, mmap_prefix):
    code, out, err = run("pretrain", ["-M", "tiny", "-D", str(mmap_prefix), "--max_steps", "2", "--dryrun",
                                      "--gpu_memory", "0.001"], capsys)
    assert code == 0, err
    assert "# memory per GPU" not in out


def test_docs_memory_commands_run_as_documented(isolated):
    """Every command of docs/memory.md: exit 2 where it says so, else 0; the refusal line as quoted."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "memory.md").read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S) for line in block.splitlines()
                if line.startswith("python -m recipes.")]
    assert len(commands) == 4
    for line in commands:
        command, _, comment = line.partition("#")
        argv = command.split()
        result = run_module(argv[2], *argv[3:], cwd=isolated)
        expected = 2 if "exit 2" in comment else 0
        assert result.returncode == expected, (line, result.stderr[-2000:])
        if expected == 2:
            quoted = " ".join(re.search(r"refused with one line: `(.+?)`", text, flags=re.S).group(1).split())
            assert f"recipes.pretrain: error: {quoted}" in result.stderr
