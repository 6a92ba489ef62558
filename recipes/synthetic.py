"""python -m recipes.synthetic: deterministic synthetic chat data (zh-TW / English) for SFT smoke runs.

Writes training/validation/test.jsonl ({"input","output"}, 80/10/10) into --output_dir, the layout
NeMo's FineTuningDataModule reads. Same --samples/--seed/--lang -> same files.
"""

import sys

from recipes.data.synthetic_command import main

if __name__ == "__main__":
    sys.exit(main())
