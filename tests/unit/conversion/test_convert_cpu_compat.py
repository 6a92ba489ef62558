"""The no-TE / no-CUDA config adjustments, for each kind of machine (only one of them is this one)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

FUSIONS = ("apply_rope_fusion", "bias_activation_fusion", "masked_softmax_fusion", "persist_layer_norm",
           "bias_dropout_fusion", "gradient_accumulation_fusion", "cross_entropy_loss_fusion")


def config():
    from nemo.collections.llm.gpt.model.base import default_layer_spec

    return SimpleNamespace(**{name: True for name in FUSIONS}, use_transformer_engine_full_layer_spec=False,
                           transformer_layer_spec=default_layer_spec, use_cpu_initialization=False)


@pytest.mark.parametrize("machine, te_usable, rope_fusion, cuda", [
    ("GPU node with TE", True, True, True),
    ("GPU node, old TE without fused RoPE", True, False, True),
    ("CPU node of a NeMo container (TE installed)", False, True, False),
    ("this machine: CPU torch, no TE", False, False, False),
])
def test_sanitize(machine, te_usable, rope_fusion, cuda):
    from nemo.collections.llm.gpt.model.base import default_layer_spec, local_layer_spec

    from recipes.conversion.cpu_compat import _sanitize

    c = config()
    _sanitize(c, te_usable, rope_fusion, cuda)
    assert c.apply_rope_fusion is (te_usable and rope_fusion)
    assert all(getattr(c, name) is te_usable for name in FUSIONS[1:])
    assert c.transformer_layer_spec is (default_layer_spec if te_usable else local_layer_spec)
    assert c.use_cpu_initialization is (not cuda)


def test_patches_are_scoped():
    import nemo.lightning.io.pl as nemo_pl
    from megatron.core.transformer.transformer_config import TransformerConfig
    from nemo.collections.llm.peft import utils as peft_utils

    from recipes.conversion.cpu_compat import cpu_conversion, have_te

    before = (TransformerConfig.__post_init__, nemo_pl._fix_tensors_device, peft_utils.HAVE_TE)
    with cpu_conversion():
        if not have_te():
            assert peft_utils.HAVE_TE is False
    assert (TransformerConfig.__post_init__, nemo_pl._fix_tensors_device, peft_utils.HAVE_TE) == before
