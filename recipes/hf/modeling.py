"""Model, tokenizer and PEFT wrapping for the small-model backend; export of the final HF directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from recipes.config.models import get_model, hf_llama_config
from recipes.core.errors import UsageError
from recipes.data.tokenizer import load_tokenizer
from recipes.hf.config import ModelConfig, PeftConfig

# NeMo's LoRA target names -> the Llama modules of Hugging Face transformers.
NEMO_TO_HF_MODULES = {
    "linear_qkv": ["q_proj", "k_proj", "v_proj"],
    "linear_proj": ["o_proj"],
    "linear_fc1": ["gate_proj", "up_proj"],
    "linear_fc2": ["down_proj"],
}


def is_hf_model_dir(path: str | os.PathLike | None) -> bool:
    return bool(path) and (Path(path) / "config.json").is_file()


def is_adapter_dir(path: str | os.PathLike | None) -> bool:
    return bool(path) and (Path(path) / "adapter_config.json").is_file()


def tokenizer_source(model: ModelConfig) -> str | None:
    """The tokenizer to load: explicit, else the model directory's, else the bundled Llama 3 one."""
    if model.tokenizer:
        return model.tokenizer
    if model.path and os.path.isdir(model.path) and any(
            (Path(model.path) / name).exists() for name in ("tokenizer.json", "tokenizer_config.json")):
        return model.path
    return None


def load_tokenizer_for(model: ModelConfig):
    return load_tokenizer(tokenizer_source(model))


def check_qlora_supported() -> None:
    import torch

    if not torch.cuda.is_available():
        raise UsageError("peft.quantize_4bit (QLoRA): needs a CUDA GPU (bitsandbytes 4-bit kernels); "
                         "run on a GPU node or drop --qlora to train plain LoRA on CPU")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise UsageError("peft.quantize_4bit (QLoRA): needs `pip install bitsandbytes`; "
                         "install it or drop --qlora") from exc


def build_model(model: ModelConfig, seed: int, peft: PeftConfig | None = None):
    """The HF causal LM: loaded from ``model.path`` or built from the registry with seeded random weights."""
    import torch

    if peft is not None and peft.quantize_4bit:
        check_qlora_supported()
    # Seeded so that a relaunch rebuilds the same random init (tiny model, LoRA A matrices) bit for bit.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        hf_model = _load_or_build(model, quantize=peft is not None and peft.quantize_4bit)
        if peft is not None:
            hf_model = apply_peft(hf_model, peft)
    return hf_model


def _load_or_build(model: ModelConfig, quantize: bool):
    import torch
    from transformers import AutoModelForCausalLM

    if not model.path:
        from transformers import LlamaForCausalLM


        return LlamaForCausalLM(hf_llama_config(get_model(model.name)))
    kwargs = {"local_files_only": True, "trust_remote_code": model.trust_remote_code, "dtype": torch.float32}
    if quantize:  # bitsandbytes quantizes while loading onto this process's GPU
        kwargs.update(quantization_config=_nf4_config(), dtype=torch.bfloat16,
                      device_map={"": int(os.environ.get("LOCAL_RANK", "0"))})
    try:
        return AutoModelForCausalLM.from_pretrained(model.path, **kwargs)
    except OSError as exc:
        raise UsageError(f"model.path {model.path}: cannot load ({str(exc).splitlines()[0]}); "
                         "pass a local Hugging Face model directory with --hf_model_id") from exc


def _nf4_config():
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def hf_target_modules(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for module in NEMO_TO_HF_MODULES.get(name, [name]):
            if module not in out:
                out.append(module)
    return out


def apply_peft(hf_model, peft: PeftConfig):
    from peft import LoraConfig, get_peft_model

    if peft.method not in ("lora", "dora"):
        raise UsageError(f"peft.method {peft.method!r}: choose lora or dora")
    if peft.quantize_4bit:
        from peft import prepare_model_for_kbit_training

        hf_model = prepare_model_for_kbit_training(hf_model)
    config = LoraConfig(r=peft.dim, lora_alpha=peft.alpha, lora_dropout=peft.dropout,
                        target_modules=hf_target_modules(list(peft.target_modules)),
                        use_dora=peft.method == "dora", task_type="CAUSAL_LM")
    return get_peft_model(hf_model, config)


def atomic_replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished ``tmp`` directory to ``final``, replacing an older one (readers never see a half copy)."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def export_hf(hf_model, tokenizer, log_dir: str | Path, model: ModelConfig, seed: int) -> dict[str, str]:
    """Write the trained model for evaluate/chat/merge: ``hf_model/`` (full) or ``hf_adapter/`` (+ ``hf_base/``)."""
    log_dir = Path(log_dir)
    out: dict[str, str] = {}
    if hasattr(hf_model, "peft_config"):
        base = model.path
        if not base:  # a registry model with seeded random weights: keep that base next to the adapter
            base = str(log_dir / "hf_base")
            _save_dir(build_model(model, seed), tokenizer, Path(base))
        hf_model.peft_config["default"].base_model_name_or_path = str(base)
        out["base"] = str(base)
        out["adapter"] = str(_save_dir(hf_model, tokenizer, log_dir / "hf_adapter"))
    else:
        out["model"] = str(_save_dir(hf_model, tokenizer, log_dir / "hf_model"))
    return out


def _save_dir(model, tokenizer, final: Path) -> Path:
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    atomic_replace_dir(tmp, final)
    return final
