"""Status and logs of this library's experiments (NeMo-Run records; Slurm state through sacct).

    python -m recipes.status                         # experiments with the state of their latest run
    python -m recipes.status llama31_pretraining     # tasks of its latest run: state, step, loss, elapsed, logs
    python -m recipes.status llama31_pretraining --logs pretrain
    python -m recipes.status llama31_pretraining --json

Dry-runs (``--dryrun``) are not runs: they are counted, never shown as the latest run. Step, max_steps
and the last training loss come from the run's ``metrics.jsonl`` (small-model backend) or its
TensorBoard events (Megatron: ``reduced_train_loss``) under ``RESULTS_DIR/EXPERIMENT``.

For Slurm jobs the state comes with Slurm's own (``sacct``: state, exit code, reason, e.g. a job
cancelled because the job it depended on failed), and ``--logs`` prints the log of every attempt
(a requeued job has one per restart) followed by the batch script's output.
"""

import sys

from recipes.pipelines.status_command import main

if __name__ == "__main__":
    sys.exit(main())
