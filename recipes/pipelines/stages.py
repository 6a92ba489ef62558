"""The pipeline's stages: which command each runs, how that command checks its argv, what it writes.

Each check calls the command's own parser and validation (nothing is re-implemented); a problem about
a path an earlier stage of this pipeline will write is deferred (that stage makes it; the command checks
it again when it runs). ``outputs`` are what a finished stage leaves: the manifest records them and a
rerun skips the stage only while they are all there, unchanged.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from executors import capabilities
from recipes import backends
from recipes.conversion import command as convert
from recipes.conversion.nemo_llm_forms import translate
from recipes.core.argcheck import number_problems
from recipes.core.atomic import output_problems
from recipes.core.errors import UsageError
from recipes.data import prepare_sft
from recipes.evaluation import chat
from recipes.evaluation import evaluate
from recipes.hf import merge_lora
from recipes.job import cli
from recipes.job.validate import checked_plan
from recipes.pipelines.argv import capture_parser, raising_parser
from recipes.preprocessing import command as preprocess
from recipes.preprocessing.slurm import local_path

ORDER = ("preprocess", "prepare_sft", "import", "pretrain", "finetune", "export", "merge_lora", "evaluate", "chat")
COMMANDS = {"preprocess": ["recipes.preprocess"], "prepare_sft": ["recipes.prepare_sft"],
            "import": ["recipes.convert", "import"], "pretrain": ["recipes.pretrain"],
            "finetune": ["recipes.finetune"], "export": ["recipes.convert", "export"],
            "merge_lora": ["recipes.merge_lora"], "evaluate": ["recipes.evaluate"], "chat": ["recipes.chat"]}
TRAINING = ("pretrain", "finetune")
STAGE_ONLY_KEYS = {"evaluate": ("baseline_untrained",)}  # the pipeline's only keys that are not command options


@dataclass
class Stage:
    name: str
    argv: list[str]  # the command's own arguments, as a user would type them after `python -m MODULE`
    extra: dict = field(default_factory=dict)  # stage-only keys (STAGE_ONLY_KEYS)
    outputs: list[str] = field(default_factory=list)  # absolute paths
    resolved: dict = field(default_factory=dict)  # resolved options (training: the job plan), for the hash
    plan: object = None  # training stages: the recipes.job.plan.JobPlan

    @property
    def module(self) -> str:
        return COMMANDS[self.name][0]

    @property
    def command_argv(self) -> list[str]:
        return COMMANDS[self.name][1:] + self.argv

    def command_line(self) -> str:
        import shlex

        return shlex.join(["python", "-m", self.module, *self.command_argv])


def parser_for(name: str):
    """The command's argparse parser (imports no NeMo/torch)."""
    if name in TRAINING:
        return cli.build_parser(name)
    if name == "preprocess":
        return preprocess.build_parser()
    if name == "prepare_sft":
        return prepare_sft.build_parser()
    if name in ("import", "export"):
        sub = next(a for a in convert.build_parser()._actions if a.choices and name in a.choices)
        return sub.choices[name]
    return capture_parser({"merge_lora": merge_lora, "evaluate": evaluate, "chat": chat}[name].parse_args)


def _abs(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _problems(call) -> tuple[list[str], object]:
    """Run one of a command's checks; its UsageError lines become problems."""
    try:
        return [], call()
    except UsageError as exc:
        return list(getattr(exc, "problems", None) or [str(exc)]), None


def check_preprocess(stage: Stage, executor: str) -> list[str]:
    with raising_parser(preprocess.build_parser()) as parser:
        problems, args = _problems(lambda: parser.parse_args(stage.argv))
    if args is None:
        return problems
    problems += number_problems(parser, args)
    problems += _problems(lambda: preprocess._tokenizer_name(args))[0]
    problems += _problems(lambda: preprocess._check_runtime(args))[0]
    local = local_path(args.input) or args.input.endswith((".jsonl", ".json", ".gz", ".parquet"))
    if local and not any(c in args.input for c in "*?[") and not os.path.exists(args.input):
        problems.append(f"--input {args.input}: not found; pass a JSONL/parquet file, a folder or a glob")
    stage.outputs = [_abs(f"{args.output_prefix}_{key}_document{ext}")
                     for key in args.json_keys for ext in (".bin", ".idx")]
    for path in stage.outputs[::2]:
        problems += output_problems(path, args.overwrite, "--output-prefix", folder=False)
    return problems


def check_prepare_sft(stage: Stage, executor: str) -> list[str]:
    problems, parsed = _problems(lambda: prepare_sft.build_parser().parse_collecting(stage.argv))
    if parsed is None:
        return problems
    args, checks = parsed
    for path in args.input:
        checks.input_file("--input", path, "pass the instruction JSONL file(s)")
    checks.add(*output_problems(args.output_dir, args.overwrite, "--output_dir", inputs=args.input))
    stage.outputs = [_abs(args.output_dir)]
    return problems + checks.problems


def check_convert(stage: Stage, executor: str) -> list[str]:
    problems, parsed = _problems(lambda: convert.build_parser().parse_collecting(translate(stage.command_argv)))
    if parsed is None:
        return problems
    args, checks = parsed
    stage.outputs = [_abs(args.output_path)]
    return problems + _problems(lambda: convert.check_args(args, checks))[0]


def check_merge_lora(stage: Stage, executor: str) -> list[str]:
    problems = _problems(lambda: merge_lora.parse_args(stage.argv))[0]
    output = _value(stage.argv, "--output_path")
    stage.outputs = [_abs(output)] if output else []
    return problems


def check_evaluate(stage: Stage, executor: str) -> list[str]:
    problems, parsed = _problems(lambda: evaluate.parse_args(stage.argv))
    if parsed is None:
        return problems
    args, checks = parsed
    problems += _problems(lambda: evaluate.check_args(args, checks))[0]
    report = evaluate.default_output(args)
    stage.outputs = [_abs(report)] + ([_abs(report.with_suffix(".png"))] if args.log_dir or args.plot_runs else [])
    return problems


def check_chat(stage: Stage, executor: str) -> list[str]:
    return _problems(lambda: chat.parse_args(stage.argv))[0]


def check_training(stage: Stage, executor: str, slurm_flags: list[str] = (), dryrun: bool = False) -> list[str]:
    """The training command's parse, plan, overrides and validation, on the pipeline's executor (a dry-run of
    the pipeline checks as the command's own --dryrun does)."""
    with raising_parser(cli.build_parser(stage.name)) as parser:
        argv = stage.argv + ["--executor", executor, *(slurm_flags if capabilities(executor).batch else []),
                             *(["--dryrun"] if dryrun else [])]
        problems, args = _problems(lambda: parser.parse_args(argv))
    if args is None:
        return problems

    # Secrets given by value stay in plan.secrets: the stage's own command hands them on when it runs.
    more, checked = _problems(lambda: checked_plan(stage.name, args))
    if checked is None:
        return problems + more
    plan, more = checked
    stage.plan = plan
    stage.resolved = json_safe(dataclasses.asdict(plan.opts))
    stage.resolved.pop("data", None)  # dataset_path is its text: the config hash stays what it was
    if args.nemo_model == "":  # the newest pretraining checkpoint, known once that stage ran: not config
        stage.resolved.pop("nemo_model", None)
    stage.outputs = [training_output(plan.opts)]
    return problems + more


def training_output(opts) -> str:
    """What a finished training run leaves: its backend says (an HF folder, or the checkpoints)."""
    return backends.get(opts.backend).training_output(opts)


def json_safe(value):
    import json

    return json.loads(json.dumps(value, default=str))


def _value(argv: list[str], flag: str) -> str | None:
    for i, item in enumerate(argv):
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
        if item == flag and i + 1 < len(argv):
            return argv[i + 1]
    return None


CHECKS = {"preprocess": check_preprocess, "prepare_sft": check_prepare_sft, "import": check_convert,
          "pretrain": check_training, "finetune": check_training, "export": check_convert,
          "merge_lora": check_merge_lora, "evaluate": check_evaluate, "chat": check_chat}
