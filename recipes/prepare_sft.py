"""python -m recipes.prepare_sft: instruction / dialogue JSONL -> training/validation/test.jsonl for NeMo SFT.

Accepted rows (one JSON value per line, shapes may be mixed):
  {"input": ..., "output": ...}            {"query": ..., "answer": ...}
  {"instruction": ..., "input": ..., "output": ...}   (Alpaca; "input" may be empty)
  ["utterance 1", "utterance 2", ...]      {"dialog": [...]}   {"conversation": [...]}   (multi-turn)
"""

import sys

from recipes.data.prepare_sft import main

if __name__ == "__main__":
    sys.exit(main())
