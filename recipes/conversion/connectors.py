"""NeMo's Llama HF importer/exporter, adjusted so they are exact on the non-TE path.

Imported only inside a conversion (it imports NeMo, ~12 s). Adjustments over NeMo 2.7.3:

* Megatron's local (non-TE) layer spec names the RMSNorms ``input_layernorm`` /
  ``pre_mlp_layernorm``; NeMo's mapping only knows the TE names (``linear_qkv.layer_norm_weight``,
  ``linear_fc1.layer_norm_weight``). Import would silently keep the norms at 1.0 and export fails,
  so we map them under the local names too. The local norms are also created in fp32 whatever
  ``params_dtype`` is, which fails NeMo's dtype check for bf16/fp16 models; we give them the
  model's dtype, as TE's fused norms have. (On disk both specs use the TE names, so checkpoints
  stay interchangeable.)
* Llama 3.1 RoPE scaling: NeMo keeps only ``factor``; we also carry ``low_freq_factor``,
  ``high_freq_factor`` and ``original_max_position_embeddings``.
* Export takes ``vocab_size`` from the model config when it is set, not from the tokenizer
  (NeMo's AutoTokenizer can count one more token than the embedding has rows).
* Checkpoint IO without async save (see ``cpu_compat.cpu_trainer``), tokenizer assets in a
  private temp dir instead of the shared ``/tmp/nemo_tokenizer``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from nemo.collections import llm
from nemo.collections.llm.gpt.model.llama import HFLlamaExporter, HFLlamaImporter, Llama31Config, LlamaModel
from nemo.lightning import io
from nemo.lightning.io.state import _ModelState

from recipes.conversion.cpu_compat import cpu_conversion, cpu_trainer

# Any name but "hf": for "hf", export_ckpt first tries a ModelOpt export that loads the whole model
# once more through NeMo's default (async-save) strategy, which fails on megatron-core 0.16 and
# doubles the time. Our load_connector ignores the name.
EXPORT_TARGET = "hf-llama"

_LOCAL_NORMS = {  # TE name -> local-spec name, per layer
    "self_attention.linear_qkv.layer_norm_weight": "input_layernorm.weight",
    "mlp.linear_fc1.layer_norm_weight": "pre_mlp_layernorm.weight",
}
_LOCAL_NORMS_FROM_HF = {
    "model.layers.*.input_layernorm.weight": "decoder.layers.*.input_layernorm.weight",
    "model.layers.*.post_attention_layernorm.weight": "decoder.layers.*.pre_mlp_layernorm.weight",
}
_tokenizer_dir: str | None = None


def _module(model):
    return model.module if hasattr(model, "module") else model


def _uses_local_norms(state_keys) -> bool:
    return any(key.endswith("layers.0.input_layernorm.weight") for key in state_keys)


def _cast_params(module, dtype) -> None:
    for param in module.parameters():
        if param.is_floating_point() and param.dtype != dtype:
            param.data = param.data.to(dtype)


def _set_with_io(config, **values) -> None:
    """Set fields so that they are also in the saved context (``__io__`` holds the init args)."""
    for name, value in values.items():
        setattr(config, name, value)
        if hasattr(config, "__io__"):
            setattr(config.__io__, name, value)


class _ImportHandle(LlamaModel):
    """Lookup key only: ``llm.import_ckpt`` finds the importer through the class of the model it is
    given. The checkpoint itself is written from a plain ``LlamaModel`` (see ``HFLlamaImporter.init``)."""


@io.model_importer(_ImportHandle, "hf")
class LlamaImporter(HFLlamaImporter):
    @property
    def config(self):
        from transformers import AutoConfig

        config = super().config
        rope = getattr(AutoConfig.from_pretrained(str(self)), "rope_scaling", None) or {}
        if isinstance(config, Llama31Config) and rope.get("rope_type") == "llama3":
            _set_with_io(
                config,
                low_freq_factor=float(rope.get("low_freq_factor", config.low_freq_factor)),
                high_freq_factor=float(rope.get("high_freq_factor", config.high_freq_factor)),
                old_context_len=int(rope.get("original_max_position_embeddings", config.old_context_len)),
            )
        return config

    def nemo_setup(self, model, trainer=None, *args, **kwargs):
        kwargs.setdefault("ckpt_async_save", False)
        return super().nemo_setup(model, trainer, *args, **kwargs)

    def convert_state(self, source, target):
        module = _module(target)
        local = _uses_local_norms(module.state_dict())
        if local:
            _cast_params(module, module.config.params_dtype)
        target = super().convert_state(source, target)
        if local:
            io.apply_transforms(source, target, mapping=_LOCAL_NORMS_FROM_HF)
        return target

    def save_hf_tokenizer_assets(self, tokenizer_name_or_path, save_path="/tmp/nemo_tokenizer"):
        return super().save_hf_tokenizer_assets(tokenizer_name_or_path, save_path=_tokenizer_dir or save_path)


class LlamaExporter(HFLlamaExporter):
    @property
    def config(self):
        hf_config = super().config
        vocab_size = io.load_context(str(self), subpath="model.config").vocab_size
        if vocab_size:
            hf_config.vocab_size = vocab_size
        return hf_config

    def nemo_load(self, path, trainer=None, cpu=True):
        return super().nemo_load(path, trainer or cpu_trainer(), cpu)

    def convert_state(self, source, target, source_config=None):
        state = _module(source).state_dict()
        if _uses_local_norms(state):
            dtype = next(target.parameters()).dtype
            renamed = {}
            for key, value in state.items():
                for te_name, local_name in _LOCAL_NORMS.items():
                    key = key.replace(local_name, te_name) if key.endswith(local_name) else key
                is_float = isinstance(value, torch.Tensor) and value.is_floating_point()
                renamed[key] = value.to(dtype) if is_float else value
            source = _ModelState(renamed, source.config)
        return super().convert_state(source, target, source_config)


def run_import(hf_dir: Path, output: Path) -> None:
    """HF Llama folder -> NeMo checkpoint at ``output`` (which must not exist)."""
    global _tokenizer_dir
    with cpu_conversion(), tempfile.TemporaryDirectory() as tmp:
        _tokenizer_dir = str(Path(tmp) / "nemo_tokenizer")  # the name becomes the artifact dir in context/
        try:
            # Any valid config: the handle is neither built nor saved.
            handle = _ImportHandle(llm.Llama32Config1B())
            llm.import_ckpt(handle, source=f"hf://{hf_dir}", output_path=output, overwrite=False)
        finally:
            _tokenizer_dir = None


def run_export(nemo_dir: Path, output: Path) -> None:
    """NeMo checkpoint -> HF folder at ``output`` (which must not exist)."""
    with cpu_conversion():
        llm.export_ckpt(
            path=Path(nemo_dir),
            target=EXPORT_TARGET,
            output_path=Path(output),
            overwrite=False,
            load_connector=lambda path, target: LlamaExporter(path),
        )


def run_merge_lora(lora_dir: Path, output: Path) -> None:
    """LoRA checkpoint + its base model -> merged full NeMo checkpoint at ``output``.

    NeMo's ``llm.peft.merge_lora`` cannot run here: its trainer uses the default async-save
    strategy (see ``cpu_compat.cpu_trainer``) and it forces bf16. This is the same sequence on
    NeMo's own helpers with a CPU trainer, keeping the checkpoint's dtype.
    """
    from nemo.collections.llm.peft import api as peft_api
    from nemo.collections.llm.peft.lora import LoRAMerge
    from nemo.lightning.ckpt_utils import ckpt_to_context_subdir

    with cpu_conversion():
        context = ckpt_to_context_subdir(lora_dir)
        model = io.load_context(context, "model")
        model.model_transform, model.__io__.model_transform = None, None
        model.config.perform_initialization = False
        lora = io.load_context(context, "model.model_transform")
        trainer = cpu_trainer()
        peft_api._setup_trainer_and_restore_model_and_adapter(Path(lora_dir), trainer, model, lora)
        merged = LoRAMerge()(trainer.strategy.megatron_parallel)
        weights = {k: v for k, v in merged.sharded_state_dict().items() if ".adapter." not in k}
        peft_api._save_merged_weight(str(output), weights, model, trainer)
