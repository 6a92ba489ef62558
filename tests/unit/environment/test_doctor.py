"""``python -m recipes.doctor``: real checks of this machine; exit 0 with only OK/WARN, 1 on any FAIL."""

import json
from pathlib import Path

from testlib import run_module


def doctor(*args, env=None, cwd=None):
    result = run_module("recipes.doctor", *args, env=env, cwd=cwd, timeout=300)
    return result.returncode, result.stdout, result.stderr


def by_name(stdout: str) -> dict:
    return {check["name"]: check for check in json.loads(stdout)}


def test_this_machine_passes_with_warnings_only(isolated):
    code, out, err = doctor()
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines and all(line.split()[0] in ("OK", "WARN") for line in lines), out
    for name in ("python:", "package nemo_toolkit:", "package megatron_core:", "gpus:", "site settings:",
                 "tokenizer:", "results dir:"):
        assert any(name in line for line in lines), name


def test_json_reports_the_installed_versions(isolated):
    import megatron.core
    import nemo

    code, out, _ = doctor("--json")
    assert code == 0
    checks = by_name(out)
    assert checks["package nemo_toolkit"]["detail"].startswith(nemo.__version__)
    assert checks["package megatron_core"]["detail"].startswith(megatron.core.__version__)
    assert {c["status"] for c in checks.values()} <= {"OK", "WARN"}


def test_a_version_differing_from_the_constraints_fails(isolated):
    pins = Path(isolated) / "constraints.txt"
    pins.write_text("nemo-toolkit==9.9.9\nnemo_run==0.11.1\n")
    code, out, err = doctor(env={"RECIPES_DOCTOR_CONSTRAINTS": str(pins)})
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and "package nemo_toolkit" in failed[0] and "tested 9.9.9" in failed[0], out
    assert "fix: bash scripts/setup.sh" in failed[0]
    assert "1 check(s) failed" in err


def test_an_unwritable_results_dir_fails_and_nothing_is_left(isolated):
    blocker = Path(isolated) / "a_file"
    blocker.write_text("x")
    code, out, _ = doctor("--results_dir", str(blocker / "results"), "--json")
    assert code == 1
    assert by_name(out)["results dir"]["status"] == "FAIL"
    target = Path(isolated) / "results_root"
    target.mkdir()
    code, out, _ = doctor("--results_dir", str(target))
    assert code == 0 and list(target.iterdir()) == [], "the write probe must remove its file"


def test_missing_named_paths_and_a_broken_site_file_fail(isolated):
    site = Path(isolated) / "site.yaml"
    site.write_text("acount: typo\n")
    code, out, _ = doctor("-n", str(Path(isolated) / "no_ckpt"), "--tokenizer", "./nope", "--json",
                          env={"RECIPES_SITE_CONFIG": str(site)})
    assert code == 1
    checks = by_name(out)
    assert checks["site settings"]["status"] == "FAIL" and "acount" in checks["site settings"]["detail"]
    assert checks["nemo checkpoint"]["status"] == "FAIL"
    assert checks["tokenizer"]["status"] == "FAIL"


def test_an_unknown_model_is_a_usage_error(isolated):
    code, out, err = doctor("-M", "13B")
    assert code == 2 and out == ""
    assert err.strip() == ("recipes.doctor: error: -M/--model: unknown model '13B'; choose one of "
                           "llama31_8b, llama31_70b, llama32_1b, tiny")
