"""Regenerate the bundled sample corpus under recipes/data/sample/ (deterministic, original text).

    python scripts/make_sample_data.py            # rewrite both files
    python scripts/make_sample_data.py --check    # exit 1 if the committed files differ

pretrain_zh_en.jsonl: a few hundred short {"text"} documents of templated Traditional Chinese and
English sentences about cities, daily life and numbers. instructions.jsonl: synthetic {"input","output"}
pairs from recipes.data.synthetic (arithmetic, translation, capitals, ...).

The demo's learnable task (scripts/demo.sh), English -> Chinese words in prompts that end with the
English word: translate_pretrain.jsonl (text made of the training prompts with their answers),
translate_instructions.jsonl (the same prompts as {"input","output"} rows) and translate_heldout.jsonl
(every word in prompt wordings that appear in neither file: what the demo evaluates on).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recipes.data import sample_data_dir  # noqa: E402
from recipes.data.synthetic import CAPITALS, WORDS, generate  # noqa: E402

DOCUMENTS = 400
INSTRUCTIONS = 400
SEED = 2024
SEASONS = [("spring", "春天", "mild", "溫和"), ("summer", "夏天", "hot", "炎熱"),
           ("autumn", "秋天", "cool", "涼爽"), ("winter", "冬天", "cold", "寒冷")]
CITY_EN = [
    "{capital} is the capital of {country}.",
    "Many travelers visit {capital} every year to see its museums, markets and parks.",
    "In {season}, the weather in {capital} is usually {weather}.",
    "People in {country} often drink {drink} in the {time}.",
    "A train from the airport to the center of {capital} takes about {minutes} minutes.",
    "The old town of {capital} has narrow streets and small shops.",
    "Students in {capital} like to study in the library near the river.",
]
CITY_ZH = [
    "{capital_zh}是{country_zh}的首都。",
    "每年都有很多旅客到{capital_zh}參觀博物館、市場和公園。",
    "{season_zh}的時候，{capital_zh}的天氣通常很{weather_zh}。",
    "{country_zh}的人常常在{time_zh}喝{drink_zh}。",
    "從機場搭火車到{capital_zh}市中心大約需要{minutes}分鐘。",
    "{capital_zh}的老城區有很多窄窄的街道和小商店。",
    "{capital_zh}的學生喜歡在河邊的圖書館讀書。",
]
LIFE_EN = [
    "Every {time}, my {relative} buys {thing} at the market.",
    "The {animal} sat under the tree and watched the {other_animal}.",
    "We counted {n} {thing} on the table and {m} more in the box, {total} in all.",
    "It rained all {time}, so we stayed home and listened to music.",
    "My {relative} says that {drink} goes well with {thing}.",
]
LIFE_ZH = [
    "每天{time_zh}，我的{relative_zh}都會去市場買{thing_zh}。",
    "{animal_zh}坐在樹下，看著{other_animal_zh}。",
    "桌上有{n}個{thing_zh}，盒子裡還有{m}個，一共是{total}個。",
    "{time_zh}一直下雨，所以我們待在家裡聽音樂。",
    "我的{relative_zh}說{drink_zh}和{thing_zh}很搭。",
]
# Every prompt ends with the English word, so the answer follows it directly: a 2-layer model learns
# the word -> translation mapping within a few hundred steps. Held-out wordings test that it learned
# the words, not the sentences.
TRANSLATE_TRAIN = ["Translate to Chinese: {en}", "In Chinese: {en}", "Chinese word: {en}",
                   "English to Chinese: {en}", "Say it in Chinese: {en}", "Word to translate: {en}"]
TRANSLATE_HELDOUT = ["The word in Chinese: {en}", "Translate this word into Chinese: {en}"]
TRANSLATE_DOCS = 400
TIMES = [("morning", "早上"), ("afternoon", "下午"), ("evening", "晚上")]
RELATIVES = [("mother", "媽媽"), ("father", "爸爸"), ("sister", "姊姊"), ("brother", "哥哥"), ("grandmother", "奶奶")]
ANIMALS = [("cat", "貓"), ("dog", "狗"), ("bird", "鳥"), ("rabbit", "兔子")]
THINGS = [("apples", "蘋果"), ("bread", "麵包"), ("oranges", "橘子"), ("eggs", "雞蛋"), ("books", "書")]
DRINKS = [("tea", "茶"), ("coffee", "咖啡"), ("milk", "牛奶"), ("water", "水")]


def _slots(rng: random.Random) -> dict[str, object]:
    country, country_zh, capital, capital_zh = rng.choice(CAPITALS)
    season, season_zh, weather, weather_zh = rng.choice(SEASONS)
    (time, time_zh), (relative, relative_zh) = rng.choice(TIMES), rng.choice(RELATIVES)
    (animal, animal_zh), (other, other_zh) = rng.sample(ANIMALS, 2)
    (thing, thing_zh), (drink, drink_zh) = rng.choice(THINGS), rng.choice(DRINKS)
    n, m = rng.randint(2, 30), rng.randint(2, 30)
    return dict(country=country, country_zh=country_zh, capital=capital, capital_zh=capital_zh, season=season,
                season_zh=season_zh, weather=weather, weather_zh=weather_zh, time=time, time_zh=time_zh,
                relative=relative, relative_zh=relative_zh, animal=animal, animal_zh=animal_zh,
                other_animal=other, other_animal_zh=other_zh, thing=thing, thing_zh=thing_zh, drink=drink,
                drink_zh=drink_zh, n=n, m=m, total=n + m, minutes=rng.randint(15, 60))


def pretrain_documents(count: int = DOCUMENTS, seed: int = SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)
    docs = []
    for index in range(count):
        chinese = index % 2 == 1
        templates = (CITY_ZH + LIFE_ZH) if chinese else (CITY_EN + LIFE_EN)
        slots = _slots(rng)  # one set of slots per document keeps it about one city and family
        sentences = [template.format(**slots) for template in rng.sample(templates, rng.randint(3, 6))]
        if rng.random() < 0.3:
            english, word_zh = rng.choice(WORDS)
            sentences.append(f"「{word_zh}」的英文是 {english}。" if chinese else f"The Chinese word for {english} is {word_zh}.")
        docs.append({"text": ("" if chinese else " ").join(sentences)})
    return docs


def translate_rows(templates: list[str]) -> list[dict[str, str]]:
    return [{"input": template.format(en=en), "output": zh} for en, zh in WORDS for template in templates]


def translate_documents(count: int = TRANSLATE_DOCS, seed: int = SEED) -> list[dict[str, str]]:
    """Pretraining text: each document six training prompts with their answers, one per line."""
    rng, rows = random.Random(seed), translate_rows(TRANSLATE_TRAIN)
    return [{"text": "\n".join(f"{r['input']} {r['output']}" for r in rng.sample(rows, 6))} for _ in range(count)]


def render_files() -> dict[str, str]:
    def jsonl(rows):
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)

    return {"pretrain_zh_en.jsonl": jsonl(pretrain_documents()),
            "instructions.jsonl": jsonl(generate(INSTRUCTIONS, seed=SEED, lang="mixed")),
            "translate_pretrain.jsonl": jsonl(translate_documents()),
            "translate_instructions.jsonl": jsonl(translate_rows(TRANSLATE_TRAIN)),
            "translate_heldout.jsonl": jsonl(translate_rows(TRANSLATE_HELDOUT))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = parser.parse_args()
    folder = sample_data_dir()
    stale = []
    for name, text in render_files().items():
        path = folder / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({len(text.encode()) / 1024:.0f} KB)")
    if stale:
        print(f"stale: {', '.join(stale)}; run python scripts/make_sample_data.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
