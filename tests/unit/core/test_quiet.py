"""Third-party warnings that do not apply are gone from the entry points' output; others still show.

Each noisy line is first produced by the library itself without this project (the oracle that the
warning exists in this environment), then looked for in a real entry point's output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from testlib import REPO, run_module

from recipes.core.quiet import has_nvidia_device

PYNVML = "The pynvml package is deprecated"
TE_APEX = "Transformer Engine and Apex are not installed"
MISTRAL = "with an incorrect regex pattern"

# Precise filters: the same category from the same module with another message must still show.
GENUINE = ("import warnings; warnings.warn_explicit('Transformer Engine kernels are slow today', UserWarning, "
           "'optimizer.py', 1, module='megatron.core.optimizer'); warnings.warn('a genuine warning')")


def bare_python(code: str, cwd) -> str:
    """Run ``code`` in a Python that never imports this project."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONWARNINGS")}
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env, cwd=cwd)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A tiny Llama folder saved by this transformers, with the bundled Llama 3 tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from recipes.data.tokenizer import bundled_llama3_dir

    path = tmp_path_factory.mktemp("llama") / "model"
    tokenizer = AutoTokenizer.from_pretrained(bundled_llama3_dir())
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_the_noise_exists_without_the_filters(tmp_path, llama_dir):
    assert PYNVML in bare_python("import torch.cuda", tmp_path)
    assert TE_APEX in bare_python("import megatron.core.optimizer", tmp_path)
    out = bare_python(f"from transformers import AutoTokenizer; AutoTokenizer.from_pretrained({str(llama_dir)!r})",
                      tmp_path)
    assert MISTRAL in out, out[-2000:]


@pytest.mark.skipif(has_nvidia_device(), reason="with a GPU the Transformer Engine/Apex advice applies and stays")
def test_preprocess_prints_no_import_noise_but_genuine_warnings(tmp_path):
    rows = tmp_path / "in.jsonl"
    rows.write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(3)))
    proc = run_module("recipes.preprocess", "--input", str(rows), "--output-prefix", str(tmp_path / "out"),
                      "--append-eod", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert PYNVML not in proc.stderr and TE_APEX not in proc.stderr, proc.stderr

    genuine = subprocess.run([sys.executable, "-c", f"import recipes, megatron.core.optimizer; {GENUINE}"],
                             capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "Transformer Engine kernels are slow today" in genuine.stderr
    assert "a genuine warning" in genuine.stderr and TE_APEX not in genuine.stderr


def test_evaluate_loads_a_llama_tokenizer_without_the_mistral_warning(tmp_path, llama_dir):
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(json.dumps({"input": "Hi", "output": "there"}) + "\n")
    proc = run_module("recipes.evaluate", "--model_path", str(llama_dir), "--test_file", str(test_file),
                      "--max_new_tokens", "2", "--output", str(tmp_path / "report.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert MISTRAL not in proc.stderr and PYNVML not in proc.stderr, proc.stderr


def test_the_mistral_warning_stays_for_a_mistral_folder(tmp_path, llama_dir):
    """The filter reads the folder's model type: a real Mistral folder still gets transformers' advice."""
    import shutil

    mistral = tmp_path / "mistral"
    shutil.copytree(llama_dir, mistral)
    config = json.loads((mistral / "config.json").read_text())
    (mistral / "config.json").write_text(json.dumps({**config, "model_type": "mistral"}))
    code = f"import recipes; from transformers import AutoTokenizer; AutoTokenizer.from_pretrained({str(mistral)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert MISTRAL in proc.stderr, proc.stderr[-2000:]


def test_children_get_the_filters_and_the_users_own_entries_win():
    from recipes.core.quiet import child_env

    env = child_env({"PYTHONWARNINGS": "default"})["PYTHONWARNINGS"]
    assert env.endswith(",default") and f"ignore:{PYNVML}:FutureWarning:torch.cuda" in env
    proc = subprocess.run([sys.executable, "-c", "import torch.cuda"], capture_output=True, text=True,
                          env={**os.environ, **child_env({})})
    assert PYNVML not in proc.stderr


NO_MATCH = "No matches found for source key"
UNFILTERED_CONVERT = ("import logging, runpy, sys; import recipes; log = logging.getLogger('nemo_logger'); "
                      "[log.removeFilter(f) for f in list(log.filters)]; sys.argv = ['convert'] + sys.argv[1:]; "
                      "runpy.run_module('recipes.convert', run_name='__main__')")


def test_an_exact_conversion_prints_no_unmatched_key_noise(tmp_path):
    """NeMo's fused-norm names match nothing on the local layer spec (our connector maps those norms):
    the message exists without the filter, is gone with it, and another unmatched key still shows."""
    sys.path.insert(0, str(REPO / "tests" / "unit" / "conversion"))
    from convert_helpers import write_hf_llama

    source = write_hf_llama(tmp_path / "hf")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    bare = subprocess.run([sys.executable, "-c", UNFILTERED_CONVERT, "import", "--source", str(source),
                           "--output_path", str(tmp_path / "nemo_bare")], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert bare.returncode == 0 and "target_key='decoder.layers.*.self_attention.linear_qkv.layer_norm_weight'" \
        in bare.stdout + bare.stderr, (bare.stdout + bare.stderr)[-3000:]
    proc = run_module("recipes.convert", "import", "--source", str(source), "--output_path", str(tmp_path / "nemo"),
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert NO_MATCH not in proc.stdout + proc.stderr

    other = subprocess.run([sys.executable, "-c", "import recipes; from nemo.utils import logging; logging.warning("
                            f"\"{NO_MATCH}: source_key='model.layers.*.mlp.up_proj.weight' target_key='x'\")"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert f"{NO_MATCH}: source_key='model.layers.*.mlp.up_proj.weight'" in other.stdout + other.stderr
