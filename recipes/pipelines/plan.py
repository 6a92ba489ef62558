"""From a pipeline file to checked stages and what each will do (run, or skip as up to date)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from executors import capabilities
from recipes import backends
from recipes.core.errors import UsageError
from recipes.core.secrets import redact
from recipes.launch.experiment import prepare, to_yaml
from recipes.pipelines.argv import to_argv
from recipes.pipelines.reader import load
from recipes.pipelines.runner import config_hash, LAST, last_checkpoint, why_rerun
from recipes.pipelines.slurm import check_settings, dryrun_scripts
from recipes.pipelines.stages import CHECKS, ORDER, parser_for, Stage, TRAINING

SLURM_ONLY = ("account", "partition", "cpu_partition", "time", "container_image", "container_mounts", "packager",
              "allow_dirty", "detach")
BASELINE_DROPS = ("adapter", "log_dir", "plot_runs", "baseline", "output", "model_path", "overwrite")


@dataclass
class Pipeline:
    name: str
    file: str
    state_dir: str
    executor: str
    args: object
    stages: list[Stage] = field(default_factory=list)
    specs: list[dict] = field(default_factory=list)


def make(args, problems: list[str]) -> Pipeline | None:
    problems += _local_refusals(args)
    loaded = load(args.file, args.overrides, problems)
    if loaded is None:
        return None
    pipeline = Pipeline(loaded.name, str(loaded.path), loaded.state_dir, args.executor, args)
    mappings = {}
    for name, own, extra in loaded.stages:
        argv, found = to_argv(parser_for(name), own, f"stage {name}", "overrides" if name in TRAINING else None)
        problems += found
        pipeline.stages.append(Stage(name, argv, extra))
        mappings[name] = own
    _resolve_last_now(pipeline.stages, problems)
    slurm_flags = _slurm_flags(args)
    earlier: list[str] = []
    for stage in pipeline.stages:
        stage.argv = _absolute_pending(stage.argv, earlier)
        check = CHECKS[stage.name]
        if stage.name in TRAINING:
            found = check(stage, args.executor, slurm_flags, args.dryrun)
        else:
            found = check(stage, args.executor)
        problems += [f"stage {stage.name}: {line}" for line in _not_pending(found, stage.argv, earlier)]
        earlier += stage.outputs
    problems += _baseline(pipeline, mappings)
    if capabilities(args.executor).batch:
        settings_problems = check_settings(pipeline)
        # A training stage's own check reports the pipeline's Slurm flags too: once is enough.
        problems[:] = [p for p in problems if p.split(": ", 1)[-1] not in settings_problems] + settings_problems
    if not problems:
        pipeline.specs = _specs(pipeline)
    return pipeline


def _resolve_last_now(stages: list[Stage], problems: list[str]) -> None:
    """``${last:RUN}`` of a run no earlier stage trains: its checkpoint now (else when the stage starts)."""
    trained = [s.name for s in stages if s.name in TRAINING]
    for stage in stages:
        for i, item in enumerate(stage.argv):
            match = LAST.fullmatch(item)
            if match and not any(ORDER.index(t) < ORDER.index(stage.name) for t in trained):
                try:
                    stage.argv[i] = last_checkpoint(os.path.abspath(match.group(1)))
                except UsageError as exc:
                    problems.append(f"stage {stage.name}: {exc}")


def _local_refusals(args) -> list[str]:
    """Slurm-only flags are refused with a local pipeline rather than ignored."""
    if capabilities(args.executor).batch:
        return []
    given = [f"--{key}" for key in SLURM_ONLY if getattr(args, key)] + (["--retries"] if args.retries else [])
    return [f"{flag}: a Slurm setting; add --executor slurm or drop it" for flag in given]


def _slurm_flags(args) -> list[str]:
    flags = []
    for key in ("account", "partition", "cpu_partition", "time", "container_image", "container_mounts", "packager"):
        if getattr(args, key):
            flags.append(f"--{key}={getattr(args, key)}")
    return flags + (["--allow_dirty"] if args.allow_dirty else [])


def _related(value: str, output: str) -> bool:
    """``value`` names ``output``, a folder above or below it, or a data prefix of it."""
    last = LAST.fullmatch(value)
    v, o = os.path.abspath(last.group(1) if last else value), os.path.abspath(output)
    return v == o or o.startswith(v + "/") or v.startswith(o + "/") or o.startswith(v + ".")


def _absolute_pending(argv: list[str], earlier_outputs: list[str]) -> list[str]:
    """Paths an earlier stage writes, made absolute: the command resolves them the same before and after that
    stage ran (a relative path that does not exist yet would read as a hub id), so the config hash holds."""
    def fix(token: str) -> str:
        # An empty value is no path (finetune's `nemo_model: ""`: the newest pretraining checkpoint), not the cwd.
        if not token or token.startswith("-") or LAST.fullmatch(token) \
                or not any(_related(token, o) for o in earlier_outputs):
            return token
        return os.path.abspath(token)

    return [(item.split("=", 1)[0] + "=" + fix(item.split("=", 1)[1])) if item.startswith("-") and "=" in item
            else fix(item) for item in argv]


def _values(argv: list[str]) -> list[str]:
    values = []
    for item in argv:
        text = item.split("=", 1)[1] if item.startswith("-") and "=" in item else ("" if item.startswith("-") else item)
        values += text.split()
    return values


def _not_pending(problems: list[str], argv: list[str], earlier_outputs: list[str]) -> list[str]:
    """Problems that are not about a path an earlier stage writes (that stage makes it; checked when it runs)."""
    pending = [v for v in _values(argv) if any(_related(v, o) for o in earlier_outputs)]
    spelled = pending + [os.path.abspath(v) for v in pending]
    return [line for line in problems if not any(p in line for p in spelled)]


def _baseline(pipeline: Pipeline, mappings: dict) -> list[str]:
    """evaluate's ``baseline_untrained: true``: the pretrain stage's untrained model, measured the same way."""
    stage = next((s for s in pipeline.stages if s.name == "evaluate"), None)
    if stage is None or "baseline_untrained" not in stage.extra:
        return []
    value = stage.extra["baseline_untrained"]
    if not isinstance(value, bool):
        return [f"stage evaluate: baseline_untrained: {value!r}: write true or false"]
    pretrain = next((s for s in pipeline.stages if s.name == "pretrain"), None)
    if not value:
        return []
    if pretrain is None or pretrain.plan is None or not backends.get(pretrain.plan.opts.backend).untrained_from_seed:
        return ["stage evaluate: baseline_untrained: needs a pretrain stage on the small-model backend "
                "(its model and seed are the untrained weights); add one or drop baseline_untrained"]
    report = stage.outputs[0]
    baseline_report = os.path.join(os.path.dirname(report), "baseline.json")
    model_path = os.path.join(pipeline.state_dir, f"untrained_{pretrain.plan.opts.model}")
    own = {k: v for k, v in mappings["evaluate"].items() if k not in BASELINE_DROPS}
    argv, problems = to_argv(parser_for("evaluate"), {**own, "model_path": model_path, "output": baseline_report,
                                                      "overwrite": True}, "stage evaluate")
    stage.extra = {"baseline": {"model": pretrain.plan.opts.model, "seed": pretrain.plan.opts.seed,
                                "model_path": model_path, "argv": argv}}
    stage.argv += ["--baseline", baseline_report]
    stage.outputs += [baseline_report]
    return problems


def _specs(pipeline: Pipeline) -> list[dict]:
    """Each stage's spec (what recipes.pipelines.runner.run_stage runs) and whether it runs or is skipped."""
    specs, rerun, earlier = [], False, []
    for stage in pipeline.stages:
        argv = stage.command_argv + (["--executor", "local", "--yes"] if stage.name in TRAINING else [])
        spec = {"stage": stage.name, "pipeline": pipeline.name, "module": stage.module, "argv": argv,
                "command": stage.command_line(), "state_dir": pipeline.state_dir, "cwd": os.getcwd(),
                "inputs": _inputs(stage, earlier), "outputs": stage.outputs, "baseline": stage.extra.get("baseline"),
                "config_hash": config_hash({"command": stage.command_line(), "resolved": stage.resolved,
                                            "baseline": stage.extra.get("baseline")})}
        reason = "an earlier stage reruns" if rerun else why_rerun(spec)
        spec["action"], spec["reason"] = ("run", reason) if reason else ("skip", "up to date")
        rerun = rerun or spec["action"] == "run"
        specs.append(spec)
        earlier += stage.outputs
    return specs


def _inputs(stage: Stage, earlier_outputs: list[str]) -> list[str]:
    """The files and folders the stage's options name that exist or that an earlier stage writes (the same list
    before and after those stages ran), apart from the stage's own outputs and run folder."""
    own = list(stage.outputs) + ([stage.plan.opts.log_dir] if stage.plan is not None else [])
    found = []
    for value in _values(stage.argv):
        for path in (value, value + ".bin", value + ".idx"):
            path = os.path.abspath(path)
            made = any(_related(path, o) for o in earlier_outputs)
            if (os.path.exists(path) or made) and not any(_related(path, o) for o in own) and path not in found:
                found.append(path)
    return found


def print_plan(pipeline: Pipeline) -> None:
    total = len(pipeline.specs)
    print(f"pipeline {pipeline.name} ({pipeline.file}, {pipeline.executor}); manifests in {pipeline.state_dir}")
    for number, spec in enumerate(pipeline.specs, 1):
        what = "skip (up to date)" if spec["action"] == "skip" else f"run ({spec['reason']})"
        print(f"  {number}/{total} {spec['stage']:<12} {what}")
    sys.stdout.flush()


def dryrun(pipeline: Pipeline) -> int:
    for number, (stage, spec) in enumerate(zip(pipeline.stages, pipeline.specs), 1):
        print(f"# ---- stage {number}/{len(pipeline.specs)} {stage.name} ({spec['action']}): {spec['command']} ----")
        if stage.plan is not None:
            try:
                tasks, _ = prepare(stage.plan)
            except Exception as exc:  # noqa: BLE001 - only where it needs what an earlier stage writes
                if all(os.path.exists(path) for path in spec["inputs"]):
                    raise
                print(f"# (resolved when it runs, after the stages it reads from: {str(exc).splitlines()[0]})")
                continue
            for name, task in tasks:
                print(f"# ---- stage {stage.name}, task {name} (resolved recipe) ----")
                print(redact(to_yaml(task)))
    if capabilities(pipeline.executor).batch:
        dryrun_scripts(pipeline)
    return 0
