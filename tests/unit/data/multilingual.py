"""Deterministic multilingual text for differential tests of tokenizers (no files, no network).

Each document strings together segments of one or more kinds: Latin with accents both composed (NFC)
and decomposed (NFD), Vietnamese and Turkish (words whose Llama 3 token BPE cannot reach), CJK,
Hangul (also as conjoining jamo), Cyrillic, Greek, Arabic with harakat, Hebrew with points,
Devanagari and Thai (combining vowel signs), emoji with ZWJ, skin tones and variation selectors,
Python code, whitespace and newline runs (tabs, CR, NBSP, ideographic and other Unicode spaces),
digits (ASCII, Arabic-Indic, fullwidth), English contractions in any case, special-token strings
written as text (whole, broken and glued to words), periodic runs ("ababab", "-----") and random code
points from every plane. Used by ``test_fast_bpe.py`` and by ``scripts/bench_preprocess.py --fuzz-mb``.
"""

from __future__ import annotations

import random
import unicodedata

WORDS = {
    "latin": "Václav Dvořák naïve façade crème brûlée Ångström Øresund Łódź Škoda São Paulo jalapeño "
             "Müller straße garçon œuvre Ærø Ĳsselmeer résumé coöperate",
    "vietnamese": "Việt Nam người nhiều điều việc hợp biết nhiệm ngoài nhiên được những không",
    "turkish": "değişiklik yapılmaktadır İstanbul ılık gelmektedir kullanılırlar çalışmalardan",
    "cjk": "中文 繁體字 日本語の文章です カタカナ ひらがな 漢字混じり 대한민국 한국어 문장입니다",
    "cyrillic": "Привет мир характеристика використання Ёлка ёж ЩИ Україна",
    "greek": "Καλημέρα κόσμε ἄνθρωπος Ἀθῆναι",
    "arabic": "مَرْحَبًا بِالْعَالَمِ السلام عليكم اللُّغَةُ العربية",
    "hebrew": "שָׁלוֹם עוֹלָם עברית",
    "devanagari": "नमस्ते दुनिया हिन्दी भाषा क्षत्रिय संस्कृतम्",
    "thai": "สวัสดีชาวโลก ภาษาไทย น้ำ",
    "emoji": "👨‍👩‍👧‍👦 ❤️ ❤ 👍🏽 🏳️‍🌈 ☺︎ 1️⃣ 🇹🇼 🧑🏿‍💻 😀😃😄",
}
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
           "<|reserved_special_token_0|>", "<|reserved_special_token_250|>", "<|eom_id|>", "<|python_tag|>",
           "<|end_of_text|", "<|eot_id", "|>", "<|", "<s>", "</s>"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'LL", "'D", "’s", "'ſ", "'K"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\n\n\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u2029", "\x0b", "\x0c",
          "\x85", "\u2003", "\u200b", "\u202f", "\u205f", "\u1680", "   \t\n", "\r"]
DIGITS = ["0123456789", "3.14159", "1,000,000", "٠١٢٣٤٥٦٧٨٩", "１２３４", "۱۲۳", "१२३", "²³", "½", "Ⅻ", "2024-06-01"]
CODE = ['def mean(xs: list[float]) -> float:\n\treturn sum(xs) / len(xs)  # 平均\n',
        'if (x != y && z >= 0) { printf("%d\\n", x); }\n', "    for i in range(10):\n        yield i ** 2\n",
        "SELECT * FROM t WHERE name = 'O''Brien';\n", "<div class=\"a\">&nbsp;</div>\r\n", "x=>x*2;//\t注释\n"]
PERIODIC = ["ab", "aab", "-", "=", " ", "ha", "la", "0", "ab ", "Ġ", "ने", "ñ", "..", "_-"]


def _words(rng: random.Random, kind: str, count: int) -> str:
    words = WORDS[kind].split()
    text = " ".join(rng.choice(words) for _ in range(count))
    if kind in ("latin", "vietnamese", "cjk", "greek") and rng.random() < 0.5:
        text = unicodedata.normalize(rng.choice(["NFD", "NFKD"]), text)  # decomposed: combining marks
    return text


def _random_code_points(rng: random.Random, count: int) -> str:
    """Code points from every plane, surrogates excluded (not encodable as UTF-8)."""
    chars = []
    for _ in range(count):
        plane = rng.choice([0] * 12 + [1, 1, 2, 3, 14, 15, 16])
        point = rng.randrange(plane << 16, (plane << 16) + 0x10000)
        chars.append(chr(point) if not 0xD800 <= point < 0xE000 else "?")
    return "".join(chars)


def _segment(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return _words(rng, rng.choice(list(WORDS)), rng.randint(1, 12))
    if roll < 0.55:
        return rng.choice(CODE)
    if roll < 0.65:
        return rng.choice(SPACES) * rng.randint(1, 4)
    if roll < 0.72:
        return rng.choice(DIGITS) * rng.randint(1, 3)
    if roll < 0.78:
        return rng.choice(["word", "IT", "we", "", "x"]) + rng.choice(CONTRACTIONS)
    if roll < 0.84:
        return rng.choice(SPECIAL)
    if roll < 0.90:
        return rng.choice(PERIODIC) * rng.randint(2, 40)
    if roll < 0.93:
        return _random_code_points(rng, rng.randint(1, 4))
    return chr(rng.choice([0x301, 0x308, 0x20DD, 0xFE0F, 0x200D, 0x1F3FB, 0x93F, 0xE31, 0x64B])) * rng.randint(1, 3)


def document(rng: random.Random) -> str:
    """One document: 1-60 segments, joined directly or with a space (so segments also glue to words)."""
    parts = [_segment(rng) for _ in range(rng.randint(1, 60))]
    return "".join(part + rng.choice(["", " ", ""]) for part in parts)


def documents(megabytes: float, seed: int = 0):
    """Documents until their UTF-8 size reaches ``megabytes``."""
    rng, size = random.Random(seed), 0
    while size < megabytes * (1 << 20):
        text = document(rng)
        size += len(text.encode("utf-8"))
        yield text
