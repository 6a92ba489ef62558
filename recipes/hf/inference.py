"""Load a trained model (HF directory, optionally + LoRA/DoRA adapter) and generate, for evaluate / chat."""

from __future__ import annotations

import json
import os
from pathlib import Path

from recipes.errors import UsageError
from recipes.hf.modeling import is_adapter_dir, is_hf_model_dir


def resolve_model_dirs(model_path: str, adapter: str | None) -> tuple[str, str | None]:
    """(base model dir, adapter dir). ``--model_path`` may name an adapter dir: its base comes from its config."""
    if adapter is None and is_adapter_dir(model_path):
        adapter = model_path
        model_path = json.loads((Path(adapter) / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if not is_hf_model_dir(model_path):
            raise UsageError(f"--model_path: the adapter's base model {model_path!r} is not a local HF directory; "
                             "pass --model_path BASE_DIR --adapter ADAPTER_DIR")
    if not is_hf_model_dir(model_path):
        raise UsageError(f"--model_path: {model_path} is not a Hugging Face model directory (no config.json); "
                         "pass <log_dir>/hf_model, <log_dir>/hf_base or a save_pretrained folder")
    if adapter is not None and not is_adapter_dir(adapter):
        raise UsageError(f"--adapter: {adapter} has no adapter_config.json; pass <log_dir>/hf_adapter")
    return model_path, adapter


def load_for_inference(model_path: str, adapter: str | None = None, device: str | None = None):
    """(model in eval mode, tokenizer). The tokenizer comes from the adapter dir, the model dir, or llama3."""
    import torch
    from transformers import AutoModelForCausalLM

    from recipes.tokenizer import load_tokenizer

    model_path, adapter = resolve_model_dirs(model_path, adapter)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, local_files_only=True)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
    tokenizer_dir = next((d for d in (adapter, model_path) if d and _has_tokenizer(d)), None)
    return model.to(device).eval(), load_tokenizer(tokenizer_dir)


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
