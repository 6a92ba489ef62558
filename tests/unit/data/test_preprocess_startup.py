"""Start-up of ``python -m recipes.preprocess``: what it imports before it encodes, not how long it takes.

Timing would be flaky on a loaded machine; the imports are what start-up costs (docs/data.md, "Speed"):
on the fast path (a ``PreTrainedTokenizerFast`` tokenizer with cached ranks) none of the libraries below
may be imported, each costing tens to thousands of milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# Not needed on the fast path: numpy (the writer uses array), tiktoken's package (it imports regex;
# fast_bpe loads only its Rust extension), tokenizers (only for documents routed to it), and the rest.
FORBIDDEN = ("numpy", "torch", "transformers", "megatron", "nemo", "nemo_run", "lightning", "tokenizers",
             "tiktoken", "regex", "huggingface_hub", "requests", "yaml", "datasets", "pyarrow", "pandas")
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$")


def imported_modules(stderr: str) -> set[str]:
    """Every module named by ``-X importtime`` (one line per module the import system loaded)."""
    return {match.group(1) for line in stderr.splitlines() if (match := IMPORT_LINE.match(line))}


def forbidden(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in FORBIDDEN)


def run_importtime(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "recipes.preprocess", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_fast_path_imports_no_heavy_library(tmp_path, bundled_dir):
    from recipes.data.fast_bpe import load_spec

    def reference():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(bundled_dir / "tokenizer.json"))

    spec, why = load_spec(str(bundled_dir), reference)  # the cache is warm, as after a machine's first run
    assert spec is not None, why
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps({"text": "第一 first"}) + "\n", encoding="utf-8")

    done = run_importtime(["--input", str(source), "--output-prefix", str(tmp_path / "out" / "one"), "--append-eod"],
                          tmp_path)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "tiktoken fast path (0 of 1 documents through tokenizers)" in done.stdout
    assert (tmp_path / "out" / "one_text_document.idx").is_file()
    modules = imported_modules(done.stderr)
    assert "recipes.data.mmap" in modules and "recipes.data.fast_bpe" in modules  # the parse found the run's
    assert forbidden(modules) == []


def test_help_imports_no_heavy_library(tmp_path):
    done = run_importtime(["--help"], tmp_path)

    assert done.returncode == 0, done.stderr[-2000:]
    modules = imported_modules(done.stderr)
    assert "recipes.core.argcheck" in modules and forbidden(modules) == []  # -m runs recipes.preprocess as __main__


def test_core_bpe_loaded_alone_is_the_one_tiktoken_uses():
    """fast_bpe loads tiktoken's extension without the package; ``import tiktoken`` afterwards reuses it."""
    code = ("from recipes.data.fast_bpe import core_bpe_class\n"
            "core = core_bpe_class()\n"
            "import sys; assert 'regex' not in sys.modules and 'tiktoken' not in sys.modules\n"
            "import tiktoken.core\n"
            "assert tiktoken.core._tiktoken.CoreBPE is core_bpe_class() is core\n")
    done = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
