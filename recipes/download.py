"""python -m recipes.download: fetch a tutorial data set from the Hugging Face hub as JSONL.

  wikinews     erhwenkuo/wikinews-zhtw                   -> wikinews-zhtw.jsonl  ({"text"})
  alpaca_zhtw  erhwenkuo/alpaca-data-gpt4-chinese-zhtw   -> alpaca-zhtw.jsonl    ({"instruction","input","output"})
  lccc         thu-coai/lccc (base)                      -> lccc-base.jsonl      ({"dialog": [...]})

Offline, download elsewhere and copy the JSONL over: every data command takes local files.
"""

import sys

from recipes.data.download_command import main

if __name__ == "__main__":
    sys.exit(main())
