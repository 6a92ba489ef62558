"""Config sections of a small-model (Hugging Face + Lightning) training job, and what its task returns or raises.

The field paths mirror NeMo 2's recipe shape so one dotted override works on both backends:
``trainer.max_steps``, ``data.global_batch_size``, ``optim.config.lr``,
``optim.lr_scheduler.warmup_steps``, ``log.log_dir``, ``log.ckpt.every_n_train_steps``,
``resume.resume_if_exists``, ``peft.dim``/``peft.alpha``, ``model.path``.

Plain dataclasses with no heavy imports: NeMo-Run serialises them with fiddle and re-imports this
module in the job's process (``python -m nemo_run.core.runners.fdl_runner``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Exit status after a signal-triggered save: 128 + SIGTERM, what a shell reports for a job killed by
# SIGTERM. Any non-zero status makes NeMo-Run's Slurm script (retries > 0) run `scontrol requeue`.
REQUEUE_EXIT_CODE = 143


@dataclass
class ModelConfig:
    name: str = "tiny"                 # registry name; a debug model is built with random (seeded) weights
    path: str | None = None            # local HF causal-LM directory (or cached hub id); None -> build `name`
    tokenizer: str | None = None       # tokenizer dir / HF id / "llama3"; None -> the model dir's, else llama3
    trust_remote_code: bool = False


@dataclass
class TrainerConfig:
    max_steps: int = 100
    val_check_interval: int = 100      # in optimizer steps (like Megatron), not micro-batches
    limit_val_batches: int = 32        # micro-batches per validation
    log_every_n_steps: int = 10
    precision: str | None = None       # None -> bf16-mixed on a bf16 GPU, 32-true on CPU
    devices: int = 1                   # per node; under torchrun the launcher's LOCAL_WORLD_SIZE wins
    num_nodes: int = 1
    accelerator: str = "auto"
    gradient_clip_val: float = 1.0
    enable_progress_bar: bool = True


@dataclass
class MmapDataConfig:
    """Pretraining data: Megatron .bin/.idx prefixes (``"0.3 /a 0.7 /b"``, a prefix, or a directory)."""

    paths: str = ""
    seq_length: int = 256
    global_batch_size: int = 8
    micro_batch_size: int = 1
    split: str = "900,50,50"           # train,validation,test documents per prefix, like NeMo
    num_workers: int = 0


@dataclass
class SFTDataConfig:
    """Finetuning data: a folder with training.jsonl / validation.jsonl rows {"input", "output"}."""

    dataset_root: str = ""
    seq_length: int = 256
    global_batch_size: int = 8
    micro_batch_size: int = 1
    prompt_template: str = "{input} {output}"
    num_workers: int = 0


@dataclass
class OptimizerConfig:
    lr: float = 3e-4
    min_lr: float = 3e-5
    weight_decay: float = 0.1
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8


@dataclass
class SchedulerConfig:
    warmup_steps: int = 0              # linear warmup, then cosine decay to optimizer.min_lr at max_steps


@dataclass
class OptimConfig:
    config: OptimizerConfig = field(default_factory=OptimizerConfig)
    lr_scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)


@dataclass
class CheckpointConfig:
    every_n_train_steps: int = 100
    keep_last_n: int = 2               # complete checkpoints kept; older ones are deleted after a save


@dataclass
class LogConfig:
    log_dir: str = "results/hf_experiment"   # checkpoints/, tb_logs/, metrics.jsonl, hf_model/ live here
    ckpt: CheckpointConfig = field(default_factory=CheckpointConfig)


@dataclass
class ResumeConfig:
    resume_if_exists: bool = True
    resume_ignore_no_checkpoint: bool = True


@dataclass
class PeftConfig:
    method: str = "lora"               # lora | dora
    dim: int = 8
    alpha: int = 16
    dropout: float = 0.0
    # NeMo names (linear_qkv, linear_proj, linear_fc1, linear_fc2) or HF module names (q_proj, ...).
    target_modules: list[str] = field(
        default_factory=lambda: ["linear_qkv", "linear_proj", "linear_fc1", "linear_fc2"])
    quantize_4bit: bool = False        # QLoRA: bitsandbytes NF4 base weights; CUDA only


class RequeueExit(SystemExit):
    """Raised after a signal-triggered checkpoint: the process should exit and be relaunched."""

    def __init__(self):
        super().__init__(REQUEUE_EXIT_CODE)


@dataclass
class TrainResult:
    global_step: int
    train_loss: float | None
    val_loss: float | None
    checkpoint: str | None
    exported: dict[str, str] = field(default_factory=dict)
