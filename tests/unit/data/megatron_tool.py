"""The oracle: Megatron-LM core_v0.15.3 ``tools/preprocess_data.py`` itself, run as a user runs it.

core_v0.15.3 is the tag of the pinned megatron-core (constraints.txt).

The file is vendored verbatim under ``megatron_lm/`` (see its README): it drives megatron-core's own
tokenizer system and ``IndexedDatasetBuilder`` from the installed wheel, with its ``Encoder`` in a
``multiprocessing.Pool``, exactly as upstream. Runs are started together (each pays ~10 s of
imports) and awaited by :meth:`ToolRuns.result`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent / "megatron_lm" / "tools" / "preprocess_data.py"


def tool_command(input_path: Path, output_prefix: Path, tokenizer_dir: Path, *flags: str) -> list[str]:
    return [sys.executable, str(TOOL), "--input", str(input_path), "--output-prefix", str(output_prefix),
            "--tokenizer-type", "HuggingFaceTokenizer", "--tokenizer-model", str(tokenizer_dir), *flags]


class ToolRuns:
    """Start several tool runs at once; wait for each when its result is needed."""

    def __init__(self):
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], cwd: Path) -> None:
        env = dict(os.environ, PYTHONWARNINGS="ignore", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        env.pop("PYTHONPATH", None)  # the tool uses the installed megatron-core, not our code
        self.running[name] = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)

    def result(self, name: str) -> None:
        code, output = self.outcome(name)
        assert code == 0, f"Megatron-LM tool run {name} failed:\n{output[-3000:]}"

    def outcome(self, name: str) -> tuple[int, str]:
        """(exit status, stdout and stderr) of a run, once it ended."""
        process = self.running[name]
        output, _ = process.communicate(timeout=600)
        return process.returncode, output


def instruct_like_tokenizer(folder: Path, bundled: Path) -> Path:
    """The bundled tokenizer declaring ``<|eot_id|>`` as eos, as Llama 3.1 Instruct's config does."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(bundled / name, folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["eos_token"] = "<|eot_id|>"
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder
