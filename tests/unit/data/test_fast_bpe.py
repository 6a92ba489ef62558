"""The tiktoken fast path against its reference, the ``tokenizers`` library (differential, a few MB).

The proof does not rest on our code: ids come from tiktoken on one side and from ``tokenizers`` on
the other, for generated multilingual text (``multilingual.py``). Each guard of the fast path
(routing, the unreachable tokens of ``ignore_merges: false``) is shown to be needed: without it
the same comparison fails.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from data_helpers import read_documents, write_jsonl
from multilingual import documents

from recipes.data import bpe_files, fast_bpe
from recipes.data.doc_tokenizer import FastTokenizer, RustTokenizer, TokenizerChoice, _load_backend, open_tokenizer
from recipes.preprocessing.command import main

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

# Code points added in Unicode 16 that the fuzzing found classified differently by the two regex
# engines (Egyptian hieroglyph, Garay digit), a Unicode 15 emoji, in contexts that show a class.
ROUTED_SAMPLES = [context.format(char) for char in ("\U00013554", "\U00010D40", "\U0001FAE8")
                  for context in ("{}'s", "a {}23", "{} x")]
VIETNAMESE = " việc hợp nhiều điều Việt biết jeho ektedir"  # tokens BPE cannot reach (ignore_merges false)


@pytest.fixture(scope="module")
def texts():
    return list(documents(3, seed=0)) + ROUTED_SAMPLES + [VIETNAMESE]


@pytest.fixture(scope="module")
def reference(bundled_dir):
    backend = _load_backend(str(bundled_dir))
    return lambda batch: [e.ids for e in backend.encode_batch_fast(batch, add_special_tokens=False)]


@pytest.fixture(scope="module")
def fast(bundled_dir):
    tokenizer = open_tokenizer(TokenizerChoice(str(bundled_dir)))
    assert isinstance(tokenizer, FastTokenizer), getattr(tokenizer, "why_not_fast", tokenizer)
    return tokenizer.engine


def differing(ours, theirs) -> int:
    return sum(list(a) != b for a, b in zip(ours, theirs))  # the fast path gives arrays


def test_fast_path_gives_the_ids_of_tokenizers_on_a_few_mb_of_multilingual_text(fast, reference, texts):
    assert sum(len(text.encode()) for text in texts) > 3 << 20
    assert differing(fast.encode(texts), reference(texts)) == 0
    assert len(ROUTED_SAMPLES) <= fast.routed < len(texts) / 2  # most of the text takes the fast path


# tiktoken 0.7.0 (nemo_toolkit[nlp]'s pin), installed beside the venv's by scripts/test.sh.
TIKTOKEN_07 = Path(sys.prefix) / "engines" / "tiktoken-0.7.0"
WITH_07 = """
import json, sys
from fuzz_fast_bpe import differences, engines
from multilingual import documents
from test_fast_bpe import ROUTED_SAMPLES
from recipes.data import fast_bpe
import tiktoken
routed, reference = engines(sys.argv[1])
unrouted, _ = engines(sys.argv[1], route=False)
texts = list(documents(2, seed=3)) + ROUTED_SAMPLES
print(json.dumps({"tiktoken": tiktoken.__file__, "versions": fast_bpe.installed_engines(),
                  "unrouted": len(differences(unrouted, reference, ROUTED_SAMPLES)),
                  "routed": len(differences(routed, reference, texts)), "texts": len(texts)}))
"""


def test_routing_is_needed_where_the_regex_engines_disagree(fast, reference, bundled_dir):
    """tiktoken 0.7.0's regex tables split Unicode 16 letters and digits otherwise than tokenizers: routing
    nothing fails there (0.14.0, the venv's, agrees on every code point: next test)."""
    assert (TIKTOKEN_07 / "tiktoken").is_dir(), f"run scripts/test.sh (it installs tiktoken 0.7.0 into {TIKTOKEN_07})"
    path = os.pathsep.join([str(TIKTOKEN_07), str(ROOT), str(ROOT / "scripts"), str(Path(__file__).parent)])
    run = subprocess.run([sys.executable, "-c", WITH_07, str(bundled_dir)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": path}, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.splitlines()[-1])
    assert found["tiktoken"].startswith(str(TIKTOKEN_07)) and found["versions"]["tiktoken"] == "0.7.0"
    assert found["unrouted"] > 0  # route nothing: the ids differ
    assert found["routed"] == 0 and found["texts"] > 1000
    assert differing(fast.encode(ROUTED_SAMPLES), reference(ROUTED_SAMPLES)) == 0
    assert fast_bpe.routed_texts(["plain ascii", "中文 Привет 👍🏽", ROUTED_SAMPLES[0]]) == [2]


@pytest.mark.slow
def test_every_code_point_the_installed_engines_disagree_on_is_routed(bundled_dir):
    """Every code point in contexts exercising each class of Llama 3's pattern, tiktoken against tokenizers
    with routing off (~1 min): what they disagree on must be routed (with 0.14.0 they agree on all)."""
    from fuzz_fast_bpe import probe_code_points

    disagree = probe_code_points(str(bundled_dir))
    assert [(lo, hi) for lo, hi in disagree if not all(map(fast_bpe.unvouched, range(lo, hi + 1)))] == []


def test_the_route_table_is_unicode_14_unassigned():
    import unicodedata

    from recipes.data.unassigned import UNICODE_VERSION

    if unicodedata.unidata_version != UNICODE_VERSION:
        pytest.skip(f"Python's Unicode {unicodedata.unidata_version} is not the table's {UNICODE_VERSION}")
    points = range(0x378, 0x110000, 7)  # a sample of every 7th code point keeps this fast
    assert [p for p in points if fast_bpe.unvouched(p)] == [p for p in points if unicodedata.category(chr(p)) == "Cn"]


def test_leaving_out_unreachable_tokens_is_needed_with_ignore_merges_false(bundled_dir, reference):
    config = json.loads((bundled_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert config["model"]["ignore_merges"] is False
    backend = _load_backend(str(bundled_dir))
    spec = bpe_files.derive(config, lambda token: [t.id for t in backend.model.tokenize(token)])
    with_all = {**spec.ranks, **spec.unreachable}
    plain = {"pattern": spec.pattern, "specials": spec.specials}
    engine = fast_bpe.FastBpe({**plain, "ranks": with_all}, None)

    assert len(spec.unreachable) > 100
    assert differing(engine.encode([VIETNAMESE]), reference([VIETNAMESE])) == 1
    assert differing(fast_bpe.FastBpe({**plain, "ranks": spec.ranks}, None).encode([VIETNAMESE]), reference([VIETNAMESE])) == 0


@pytest.mark.slow
def test_with_ignore_merges_true_every_token_stays_and_ids_still_match(tmp_path, bundled_dir, texts):
    """Meta's own Llama 3 tokenizer.json sets ignore_merges: true (the word is looked up first, like tiktoken)."""
    folder = tmp_path / "meta_like"
    shutil.copytree(bundled_dir, folder, ignore=shutil.ignore_patterns("tokenizer.model"))
    config = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    config["model"]["ignore_merges"] = True
    (folder / "tokenizer.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    tokenizer = open_tokenizer(TokenizerChoice(str(folder)))
    backend = _load_backend(str(folder))
    sample = texts[::8] + [VIETNAMESE]

    assert isinstance(tokenizer, FastTokenizer)
    assert differing(tokenizer.encode(sample), [e.ids for e in backend.encode_batch_fast(sample, add_special_tokens=False)]) == 0


@pytest.fixture(scope="module")
def llama3_config(bundled_dir):
    config = json.loads((bundled_dir / "tokenizer.json").read_text(encoding="utf-8"))
    config["model"]["ignore_merges"] = True  # no reference BPE needed to derive
    return config


MUTATIONS = {
    "normalizer": lambda c: c.update(normalizer={"type": "NFC"}),
    "pattern": lambda c: c["pre_tokenizer"]["pretokenizers"][0]["pattern"].update(Regex=r"\S+|\s+"),
    "prefix space": lambda c: c["pre_tokenizer"]["pretokenizers"][1].update(add_prefix_space=True),
    "not BPE": lambda c: c["model"].update(type="WordPiece"),
    "byte fallback": lambda c: c["model"].update(byte_fallback=True),
    "dropout": lambda c: c["model"].update(dropout=0.1),
    "merge order": lambda c: c["model"]["merges"].insert(0, c["model"]["merges"].pop(5000)),
    "missing merge": lambda c: c["model"]["merges"].remove("Ġ ĠĠ"),
    "stripping added token": lambda c: c["added_tokens"][0].update(lstrip=True),
    "non byte-level token": lambda c: c["model"]["vocab"].update({"\u4e00": len(c["model"]["vocab"])}),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_files_that_tiktoken_would_encode_differently_are_refused(llama3_config, name):
    config = copy.deepcopy(llama3_config)
    MUTATIONS[name](config)
    with pytest.raises(bpe_files.NotTiktokenBpe):
        bpe_files.derive(config)


def test_unverified_engine_versions_take_the_reference_path(monkeypatch, bundled_dir):
    monkeypatch.setitem(fast_bpe.VERIFIED_ENGINES, "tiktoken", ("0.0.1",))
    tokenizer = open_tokenizer(TokenizerChoice(str(bundled_dir)))
    assert isinstance(tokenizer, RustTokenizer) and "not a verified version (0.0.1)" in tokenizer.why_not_fast


class Derived(Exception):
    """Raised by a reference loader to show the cache was not used."""


@pytest.mark.slow
def test_cache_is_reused_and_a_file_naming_code_is_not_loaded(tmp_path, monkeypatch, bundled_dir):
    monkeypatch.setenv(fast_bpe.CACHE_ENV, str(tmp_path))
    loads = []
    spec, _ = fast_bpe.load_spec(str(bundled_dir), lambda: loads.append(1) or _load_backend(str(bundled_dir)))
    (cached,) = (tmp_path / "bpe").iterdir()
    assert fast_bpe.load_spec(str(bundled_dir), lambda: loads.append(1))[0] == spec and loads == [1]

    cached.write_bytes(b"\x80\x04cos\nsystem\n.")  # a pickle naming a function: refused, derived again
    with pytest.raises(Derived):
        fast_bpe.load_spec(str(bundled_dir), lambda: (_ for _ in ()).throw(Derived()))


@pytest.mark.slow
def test_preprocess_output_is_the_same_with_either_backend(tmp_path):
    rows = [{"text": text} for text in list(documents(0.1, seed=2)) + ROUTED_SAMPLES]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    for backend in ("auto", "hf"):
        assert main(["--input", str(source), "--output-prefix", str(tmp_path / backend), "--append-eod",
                     "--tokenizer-backend", backend, "--workers", "2" if backend == "auto" else "1"]) == 0
    for suffix in (".bin", ".idx"):
        assert (tmp_path / f"auto_text_document{suffix}").read_bytes() == (tmp_path / f"hf_text_document{suffix}").read_bytes()
    assert len(read_documents(tmp_path / "auto_text_document")[0]) == len(rows)


def test_unknown_backend_is_one_line_naming_the_flag(tmp_path, capsys):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    assert main(["--input", str(source), "--output-prefix", str(tmp_path / "o"), "--tokenizer-backend", "tiktoken"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "recipes.preprocess: error: --tokenizer-backend tiktoken: not a backend; pass --tokenizer-backend auto "
        "(default) or hf"]
