"""Environment doctor: one line per check with OK/WARN/FAIL and the fix; exit 1 on any FAIL.

    python -m recipes.doctor                    # versions, the NeMo/megatron-core pair, GPUs, Slurm/pyxis, site settings, model, results dir
    python -m recipes.doctor -M 70B --hf_model_id meta-llama/Llama-3.1-70B --json
"""

import sys

from recipes.environment.doctor import main

if __name__ == "__main__":
    sys.exit(main())
