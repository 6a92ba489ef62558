"""Deterministic synthetic chat data in Traditional Chinese and English: simple, learnable facts.

Task families: arithmetic, comparing numbers, next number, word translation (fixed vocabulary),
capital cities and greetings. The same ``(samples, seed, lang)`` always gives the same rows, so a
tiny model can be trained and evaluated on them reproducibly without any download.
"""

from __future__ import annotations

import random
from typing import Callable

# (English, 中文) for the translation family and the sample pretraining corpus.
WORDS = [
    ("apple", "蘋果"), ("water", "水"), ("book", "書"), ("cat", "貓"), ("dog", "狗"), ("tea", "茶"),
    ("rice", "米飯"), ("school", "學校"), ("teacher", "老師"), ("friend", "朋友"), ("rain", "雨"),
    ("mountain", "山"), ("river", "河"), ("sun", "太陽"), ("moon", "月亮"), ("flower", "花"),
    ("tree", "樹"), ("bird", "鳥"), ("fish", "魚"), ("car", "汽車"), ("train", "火車"), ("city", "城市"),
    ("music", "音樂"), ("computer", "電腦"), ("coffee", "咖啡"), ("milk", "牛奶"), ("bread", "麵包"),
    ("family", "家人"), ("morning", "早上"), ("night", "晚上"), ("summer", "夏天"), ("winter", "冬天"),
    ("red", "紅色"), ("blue", "藍色"), ("green", "綠色"), ("happy", "快樂"), ("library", "圖書館"),
    ("hospital", "醫院"), ("market", "市場"), ("island", "島"),
]
# (country, 國家, capital, 首都)
CAPITALS = [
    ("France", "法國", "Paris", "巴黎"), ("Japan", "日本", "Tokyo", "東京"), ("Germany", "德國", "Berlin", "柏林"),
    ("Italy", "義大利", "Rome", "羅馬"), ("Spain", "西班牙", "Madrid", "馬德里"),
    ("South Korea", "韓國", "Seoul", "首爾"), ("Thailand", "泰國", "Bangkok", "曼谷"),
    ("Vietnam", "越南", "Hanoi", "河內"), ("Egypt", "埃及", "Cairo", "開羅"), ("Canada", "加拿大", "Ottawa", "渥太華"),
    ("Australia", "澳洲", "Canberra", "坎培拉"), ("Brazil", "巴西", "Brasília", "巴西利亞"),
    ("Mexico", "墨西哥", "Mexico City", "墨西哥城"), ("India", "印度", "New Delhi", "新德里"),
    ("Russia", "俄羅斯", "Moscow", "莫斯科"), ("the United Kingdom", "英國", "London", "倫敦"),
    ("the United States", "美國", "Washington, D.C.", "華盛頓"), ("Greece", "希臘", "Athens", "雅典"),
    ("Portugal", "葡萄牙", "Lisbon", "里斯本"), ("the Netherlands", "荷蘭", "Amsterdam", "阿姆斯特丹"),
    ("Sweden", "瑞典", "Stockholm", "斯德哥爾摩"), ("Norway", "挪威", "Oslo", "奧斯陸"),
    ("Poland", "波蘭", "Warsaw", "華沙"), ("Turkey", "土耳其", "Ankara", "安卡拉"),
    ("Argentina", "阿根廷", "Buenos Aires", "布宜諾斯艾利斯"), ("Kenya", "肯亞", "Nairobi", "奈洛比"),
    ("Indonesia", "印尼", "Jakarta", "雅加達"), ("the Philippines", "菲律賓", "Manila", "馬尼拉"),
    ("Malaysia", "馬來西亞", "Kuala Lumpur", "吉隆坡"), ("Singapore", "新加坡", "Singapore", "新加坡"),
]
GREETINGS = [
    ("Hello!", "Hello! How can I help you today?", "你好！", "你好！今天有什麼可以幫你的嗎？"),
    ("Good morning.", "Good morning! I hope you have a great day.", "早安。", "早安！祝你有美好的一天。"),
    ("Thank you.", "You're welcome.", "謝謝你。", "不客氣。"),
    ("Who are you?", "I am a helpful assistant.", "你是誰？", "我是一個樂於助人的助理。"),
    ("Good night.", "Good night! Sleep well.", "晚安。", "晚安！祝你好夢。"),
    ("How are you?", "I am fine, thank you. How about you?", "你好嗎？", "我很好，謝謝。你呢？"),
]
LANGS = ("zh", "en", "mixed")
Pair = tuple[str, str]


def _arithmetic(rng: random.Random, lang: str) -> Pair:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    op = rng.choice("+-*")
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    if lang == "en":
        word = {"+": "plus", "-": "minus", "*": "times"}[op]
        return f"What is {a} {word} {b}?", f"{a} {word} {b} is {result}."
    word = {"+": "加", "-": "減", "*": "乘以"}[op]
    return f"{a} {word} {b} 等於多少？", f"{a} {word} {b} 等於 {result}。"


def _compare(rng: random.Random, lang: str) -> Pair:
    a, b = rng.sample(range(1000), 2)
    if lang == "en":
        return f"Which number is larger, {a} or {b}?", f"{max(a, b)} is larger."
    return f"{a} 和 {b} 哪個數字比較大？", f"{max(a, b)} 比較大。"


def _next_number(rng: random.Random, lang: str) -> Pair:
    n = rng.randint(0, 998)
    if lang == "en":
        return f"What number comes after {n}?", f"The number after {n} is {n + 1}."
    return f"{n} 的下一個數字是什麼？", f"{n} 的下一個數字是 {n + 1}。"


def _translate(rng: random.Random, lang: str) -> Pair:
    english, chinese = rng.choice(WORDS)
    if lang == "en":
        return f"Translate into Chinese: {english}", chinese
    return f"請把「{chinese}」翻譯成英文。", english


def _capital(rng: random.Random, lang: str) -> Pair:
    country, country_zh, capital, capital_zh = rng.choice(CAPITALS)
    if lang == "en":
        return f"What is the capital of {country}?", f"The capital of {country} is {capital}."
    return f"{country_zh}的首都是哪裡？", f"{country_zh}的首都是{capital_zh}。"


def _greeting(rng: random.Random, lang: str) -> Pair:
    hello_en, reply_en, hello_zh, reply_zh = rng.choice(GREETINGS)
    return (hello_en, reply_en) if lang == "en" else (hello_zh, reply_zh)


FAMILIES: list[Callable[[random.Random, str], Pair]] = [
    _arithmetic, _compare, _next_number, _translate, _capital, _greeting,
]


def generate(samples: int, seed: int = 1234, lang: str = "mixed") -> list[dict[str, str]]:
    """``samples`` rows of ``{"input", "output"}``; identical for identical arguments."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[Pair] = set()
    # Distinct rows only, so a split never puts the same question in training and test; the
    # attempt cap stops a request larger than the families can fill.
    for _ in range(samples * 20):
        if len(rows) == samples:
            break
        row_lang = rng.choice(("zh", "en")) if lang == "mixed" else lang
        pair = rng.choice(FAMILIES)(rng, row_lang)
        if pair not in seen:
            seen.add(pair)
            rows.append({"input": pair[0], "output": pair[1]})
    return rows
