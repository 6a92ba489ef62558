"""The ``nemo llm import`` / ``nemo llm export`` spellings, accepted by ``python -m recipes.convert``.

    nemo llm import model=llama31_8b source=hf://meta-llama/Llama-3.1-8B output_path=nemo_ckpt/x overwrite=false
    nemo llm export path=nemo_ckpt/x target=hf output_path=hf_ckpt/x

become ``import --source hf://... --output_path ... [--overwrite]`` and ``export --source ... --output_path ...``.
``overwrite`` takes true/false (the tutorial scripts' ``type=bool`` made "False" true: not here).
"""

from __future__ import annotations

import re
from recipes.core.errors import ValidationErrors



KEY = re.compile(r"^[A-Za-z_]+$")
KEYS = {"source": "--source", "path": "--source", "output_path": "--output_path"}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def translate(argv: list[str]) -> list[str]:
    """``argv`` with every ``key=value`` word turned into our flags; other words unchanged."""
    out, problems = [], []
    for index, word in enumerate(argv):
        key, sep, value = word.partition("=")
        after_flag = index > 0 and argv[index - 1].startswith("-") and "=" not in argv[index - 1]
        if not sep or word.startswith("-") or after_flag or not KEY.match(key):
            out.append(word)  # a flag, a flag's value, or a path that happens to hold '=' (NeMo's ckpt names)
        elif key in KEYS:
            out += [KEYS[key], value]
        elif key == "overwrite":
            if value.lower() in TRUE:
                out.append("--overwrite")
            elif value.lower() not in FALSE:
                problems.append(f"overwrite={value}: use overwrite=true or overwrite=false")
        elif key == "target":
            if value != "hf":
                problems.append(f"target={value}: only target=hf (NeMo -> Hugging Face) is supported")
        elif key == "model":
            problems.append(f"model={value}: not needed, the architecture is read from the source; drop it")
        else:
            problems.append(f"{word}: unknown key {key!r}; use source=, path=, output_path=, overwrite=, target=hf")
    if problems:
        raise ValidationErrors(problems)
    return out



