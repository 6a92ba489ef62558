"""Load a trained model (HF directory, optionally + LoRA/DoRA adapter) and generate, for evaluate / chat."""

from __future__ import annotations

import json
import os
from pathlib import Path

from recipes.conversion.hf_weights import file_problems, folder_problems
from recipes.core.errors import UsageError, ValidationErrors
from recipes.data.tokenizer import load_tokenizer
from recipes.hf.modeling import is_adapter_dir, is_hf_model_dir


MODEL_FIX = "pass <log_dir>/hf_model, <log_dir>/hf_base or a complete save_pretrained folder"
ADAPTER_FIX = "pass <log_dir>/hf_adapter or a complete PEFT save_pretrained folder"


def model_dir_problems(model_path: str, adapter: str | None, model_flag: str = "--model_path",
                       adapter_flag: str = "--adapter") -> tuple[str, str | None, list[str]]:
    """(base model dir, adapter dir, problems). ``model_path`` may name an adapter dir: its base comes
    from its config. Only cheap file checks (no torch): they are reported with the other flags' problems."""
    if adapter is None and is_adapter_dir(model_path):
        adapter, adapter_flag = model_path, model_flag
        config, problem = _read_json(Path(adapter) / "adapter_config.json", model_flag, ADAPTER_FIX)
        if problem:
            return model_path, adapter, [problem]
        model_path = config.get("base_model_name_or_path")
        if not is_hf_model_dir(model_path):
            return model_path, adapter, [
                f"{model_flag}: the adapter's base model {model_path!r} is not a local HF directory; "
                f"pass {model_flag} BASE_DIR {adapter_flag if adapter_flag != model_flag else '--adapter'} ADAPTER_DIR"]
    problems = []
    if not is_hf_model_dir(model_path):
        problems.append(f"{model_flag}: {model_path} is not a Hugging Face model directory (no config.json); {MODEL_FIX}")
    else:
        problem = _read_json(Path(model_path) / "config.json", model_flag, MODEL_FIX)[1]
        problems += [problem] if problem else folder_problems(model_path, model_flag)
    if adapter is not None:  # given, or as model_path (its config was read above; now its weights)
        problems += adapter_problems(adapter, adapter_flag)
    return model_path, adapter, problems


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # what PEFT's save_pretrained writes


def adapter_problems(adapter: str, adapter_flag: str = "--adapter") -> list[str]:
    """A PEFT adapter folder's file problems (no adapter_config.json, or not a JSON object)."""
    if not is_adapter_dir(adapter):
        return [f"{adapter_flag}: {adapter} has no adapter_config.json; {ADAPTER_FIX}"]
    problem = _read_json(Path(adapter) / "adapter_config.json", adapter_flag, ADAPTER_FIX)[1]
    if problem:
        return [problem]

    weights = [Path(adapter, name) for name in ADAPTER_WEIGHTS if Path(adapter, name).is_file()]
    if not weights:
        return [f"{adapter_flag}: {adapter} has adapter_config.json but no {' or '.join(ADAPTER_WEIGHTS)}; "
                "the adapter was not completely saved or copied: copy it again"]
    return file_problems(weights[0], adapter_flag)


def _read_json(path: Path, flag: str, fix: str) -> tuple[dict, str | None]:
    """The JSON object in ``path``, or a problem line naming the flag and the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{flag}: {path} is not valid JSON ({_first_line(exc)}); {fix}"
    if not isinstance(value, dict):
        return {}, f"{flag}: {path} is not a JSON object; {fix}"
    return value, None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def resolve_model_dirs(model_path: str, adapter: str | None, model_flag: str = "--model_path",
                       adapter_flag: str = "--adapter") -> tuple[str, str | None]:
    model_path, adapter, problems = model_dir_problems(model_path, adapter, model_flag, adapter_flag)
    if problems:
        raise ValidationErrors(problems)
    return model_path, adapter


def load_model(path: str, flag: str, dtype):
    """``from_pretrained`` of a user-given folder; any failure (bad config, truncated or missing weights)
    is that folder's problem: one line naming the flag."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    except Exception as exc:
        raise UsageError(f"{flag} {path}: cannot load the model ({_first_line(exc)}); {MODEL_FIX}") from exc


def load_adapter(model, adapter: str, flag: str, trainable: bool = False):
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    except Exception as exc:
        raise UsageError(f"{flag} {adapter}: cannot load the adapter ({_first_line(exc)}); {ADAPTER_FIX}") from exc


def load_tokenizer_from(path: str | None, flag: str):
    try:
        return load_tokenizer(path)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{flag} {path}: cannot load its tokenizer ({_first_line(exc)}); {MODEL_FIX}") from exc


def load_for_inference(model_path: str, adapter: str | None = None, device: str | None = None):
    """(model in eval mode, tokenizer). The tokenizer comes from the adapter dir, the model dir, or llama3."""
    import torch

    model_flag = "--model_path"
    adapter_flag = "--adapter" if adapter is not None else model_flag
    model_path, adapter = resolve_model_dirs(model_path, adapter)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    model = load_model(model_path, model_flag, dtype)
    if adapter is not None:
        model = load_adapter(model, adapter, adapter_flag)
    tokenizer_dir = next((d for d in (adapter, model_path) if d and _has_tokenizer(d)), None)
    tokenizer = load_tokenizer_from(tokenizer_dir, adapter_flag if tokenizer_dir == adapter else model_flag)
    return model.to(device).eval(), tokenizer


def _has_tokenizer(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, name)) for name in ("tokenizer.json", "tokenizer_config.json"))


def stop_token_ids(tokenizer) -> list[int]:
    """EOS plus Llama 3's end-of-turn token, which ends a chat answer."""
    ids = [tokenizer.eos_token_id]
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    if isinstance(eot, int) and eot != tokenizer.unk_token_id and eot not in ids:
        ids.append(eot)
    return ids


def generate(model, tokenizer, prompt_ids: list[int], max_new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0) -> list[int]:
    """New token ids after ``prompt_ids`` (greedy when temperature is 0), without the stop token."""
    import torch

    input_ids = torch.tensor([prompt_ids], device=model.device)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else \
        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    stops = stop_token_ids(tokenizer)
    with torch.no_grad():
        output = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=stops[0],
                                **sampling)
    new = output[0, len(prompt_ids):].tolist()
    while new and new[-1] in stops:
        new.pop()
    return new
