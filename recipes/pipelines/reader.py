"""Reading a pipeline file: YAML, ``${VAR:-default}`` expansion, its stages in order, dotted overrides.

    name: demo                         # NeMo-Run experiment and status name (default: the file's stem)
    state_dir: results/demo/pipeline   # the stages' manifests (default: results/pipelines/NAME)
    stages:                            # any subset of recipes.pipelines.stages.ORDER, in that order
      pretrain: {M: tiny, dataset_path: data/x_text_document, max_steps: 20}

Every problem of the file is collected (one line each, naming the stage and key).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from recipes.pipelines.stages import ORDER, STAGE_ONLY_KEYS
from executors.settings import SECRET_ENV_NAMES

TOP_KEYS = ("name", "state_dir", "stages")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class PipelineFile:
    path: Path
    name: str
    state_dir: str
    stages: list[tuple[str, dict, dict]]  # (stage, command options, stage-only options)


def load(path: str, overrides: list[str], problems: list[str]) -> PipelineFile | None:
    import yaml

    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{path}: cannot read the pipeline file ({exc.strerror or exc}); pass an existing YAML file")
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{path}: not valid YAML{where} ({getattr(exc, 'problem', None) or exc}); fix the file")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: a pipeline file is a mapping with 'stages:'; see recipes/pipelines/demo.yaml")
        return None
    data = _expand(data, problems)
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{path}: {key}: unknown key; the file's keys are {', '.join(TOP_KEYS)}")
    stages = data.get("stages")
    if not isinstance(stages, dict) or not stages:
        problems.append(f"{path}: stages: a mapping of stage -> options is required; stages are {', '.join(ORDER)}")
        return None
    name = str(data.get("name") or source.stem)
    if not _NAME.fullmatch(name):
        problems.append(f"{path}: name {name!r}: use letters, digits, '_', '-', '.' (at most 64)")
    state_dir = str(data.get("state_dir") or os.path.join("results", "pipelines", name))
    ordered = _stages(stages, path, problems)
    _apply_overrides(ordered, overrides, problems)
    return PipelineFile(source, name, os.path.abspath(state_dir), ordered)


def _stages(stages: dict, path: str, problems: list[str]) -> list[tuple[str, dict, dict]]:
    ordered, last = [], -1
    for name, options in stages.items():
        name = str(name)
        if name not in ORDER:
            problems.append(f"{path}: stage {name}: unknown stage; stages are {', '.join(ORDER)}")
            continue
        if ORDER.index(name) < last:
            problems.append(f"{path}: stage {name}: out of order (after {ORDER[last]}); stages run in the order "
                            f"{' -> '.join(ORDER)}: move it up")
        last = max(last, ORDER.index(name))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            problems.append(f"{path}: stage {name}: its options must be a mapping of key: value")
            continue
        own = {str(k): v for k, v in options.items() if str(k) not in STAGE_ONLY_KEYS.get(name, ())}
        extra = {str(k): v for k, v in options.items() if str(k) in STAGE_ONLY_KEYS.get(name, ())}
        ordered.append((name, own, extra))
    return ordered


def _apply_overrides(stages: list[tuple[str, dict, dict]], overrides: list[str], problems: list[str]) -> None:
    """``finetune.max_steps=50``: set a key of a stage of the file (the value is read as YAML)."""
    import yaml

    by_name = {name: (own, extra) for name, own, extra in stages}
    for item in overrides:
        target, sep, text = item.partition("=")
        stage, dot, key = target.partition(".")
        if not sep or not dot or not key:
            problems.append(f"{item}: an override is STAGE.KEY=VALUE, e.g. finetune.max_steps=50")
            continue
        if stage not in by_name:
            problems.append(f"{item}: stage {stage}: not in this pipeline file (it has "
                            f"{', '.join(by_name) or 'no stages'})")
            continue
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        own, extra = by_name[stage]
        (extra if key in STAGE_ONLY_KEYS.get(stage, ()) else own)[key] = value


def _expand(value, problems: list[str]):
    """``${VAR}`` / ``${VAR:-default}`` from the environment in every string (never a secret's value)."""
    if isinstance(value, dict):
        return {k: _expand(v, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, problems) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        name, default = match.group(1), match.group(2)
        if name in SECRET_ENV_NAMES:
            problems.append(f"${{{name}}}: a secret never goes into a command line; jobs read {name} from the "
                            "environment by name, so drop it from the file")
            return ""
        if name not in os.environ and default is None:
            problems.append(f"${{{name}}}: not set; export {name} or write ${{{name}:-DEFAULT}}")
            return ""
        return os.environ.get(name) or (default or "")

    return _VAR.sub(substitute, value)
