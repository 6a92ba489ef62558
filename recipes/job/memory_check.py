"""The memory estimate of a job plan: read from the built recipe, printed as a table, checked against the GPU.

The layout (parallelism, batch, recompute, optimizer, precision, PEFT) is read from the NeMo recipe
after the dotted overrides, so the estimate describes what would run. Megatron backend only: the
small-model (hf) backend trains debug-sized models and is not estimated.
"""

from __future__ import annotations

import shutil
import subprocess

from executors import capabilities
from recipes import backends
from recipes.config.models import LLAMA3_VOCAB
from recipes.config.overrides import apply_overrides
from recipes.core.errors import UsageError
from recipes.megatron.memory import GIB, LORA_TARGETS, Arch, Estimate, Layout, estimate, vary

SKIP_FLAG = "--no_memory_check"


def _plugin(recipe):
    plugins = getattr(recipe.trainer, "plugins", None)
    if isinstance(plugins, (list, tuple)):
        return next((p for p in plugins if hasattr(p, "grad_reduce_in_fp32")), None)
    return plugins


def arch_from_config(config) -> Arch:
    """The architecture from NeMo's (Fiddle) model config: every field the recipe and overrides set."""
    return Arch(num_layers=config.num_layers, hidden_size=config.hidden_size,
                ffn_hidden_size=config.ffn_hidden_size, num_attention_heads=config.num_attention_heads,
                num_query_groups=config.num_query_groups or config.num_attention_heads,
                vocab_size=getattr(config, "vocab_size", None) or LLAMA3_VOCAB,
                tied_embeddings=bool(config.share_embeddings_and_output_weights),
                gated_mlp=bool(config.gated_linear_unit), kv_channels=config.kv_channels,
                dropout=bool(config.hidden_dropout or config.attention_dropout),
                norm_params=1 if config.normalization == "RMSNorm" else 2,
                vocab_divisible_by=config.make_vocab_size_divisible_by)


def layout_from_recipe(recipe, world_size: int) -> Layout:
    strategy, config, plugin = recipe.trainer.strategy, recipe.model.config, _plugin(recipe)
    tp, pp, cp = (strategy.tensor_model_parallel_size, strategy.pipeline_model_parallel_size,
                  strategy.context_parallel_size)
    peft = getattr(recipe, "peft", None)
    peft_name = getattr(peft, "__fn_or_cls__", type(peft)).__name__.lower() if peft is not None else None
    modules = _field(config, "recompute_modules", None) or ("core_attn",)
    return Layout(
        seq_length=recipe.data.seq_length, micro_batch_size=recipe.data.micro_batch_size,
        global_batch_size=recipe.data.global_batch_size, tp=tp, pp=pp, cp=cp,
        dp=max(1, world_size // (tp * pp * cp)), vpp=strategy.virtual_pipeline_model_parallel_size if pp > 1 else None,
        sequence_parallel=bool(strategy.sequence_parallel and tp > 1),
        distributed_optimizer=bool(recipe.optim.config.use_distributed_optimizer),
        grad_fp32=bool(getattr(plugin, "grad_reduce_in_fp32", True)),
        recompute=config.recompute_granularity, recompute_method=config.recompute_method,
        recompute_layers=config.recompute_num_layers or 1, recompute_modules=tuple(modules),
        fp8=bool(getattr(plugin, "fp8", None)),
        peft=peft_name, lora_dim=_field(peft, "dim", 32),
        lora_targets=tuple(_field(peft, "target_modules", None) or LORA_TARGETS),
    )


def _field(config, name: str, default):
    """A Fiddle config's field; ``default`` where it is unset with a default_factory (Fiddle refuses those)."""
    try:
        value = getattr(config, name, default)
    except ValueError:
        return default
    return default if value is None else value


def estimate_recipe(recipe, world_size: int) -> Estimate:
    return estimate(arch_from_config(recipe.model.config), layout_from_recipe(recipe, world_size))


def local_gpu_memory() -> float | None:
    """Bytes of the smallest local GPU (nvidia-smi reports MiB), None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    sizes = [float(line) for line in out.split() if line.replace(".", "", 1).isdigit()]
    return min(sizes) * 1024**2 if sizes else None


def format_table(est: Estimate, gpu_bytes: float | None = None) -> str:
    lay = est.layout
    head = (f"# memory per GPU (GiB): TP {lay.tp} PP {lay.pp}{f' (VPP {lay.vpp})' if lay.vpp else ''} CP {lay.cp} "
            f"DP {lay.dp}, seq {lay.seq_length}, MBS {lay.micro_batch_size}, GBS {lay.global_batch_size}, "
            f"SP {'on' if lay.sequence_parallel else 'off'}, recompute {lay.recompute or 'off'}, "
            f"distributed optimizer {'on' if lay.distributed_optimizer else 'off'}"
            f"{', FP8' if lay.fp8 else ''}{f', {lay.peft} r={lay.lora_dim}' if lay.peft else ''}")
    rows = [head, "# stage  layers  params(B)  weights  grads  optimizer  activations(in flight)  workspace  total"]
    for s in est.stages:
        rows.append(f"# {s.stage:>5}  {s.layers:>6}  {s.params / 1e9:>9.2f}  {s.weights / GIB:>7.1f}  "
                    f"{s.grads / GIB:>5.1f}  {s.optimizer / GIB:>9.1f}  {s.activations / GIB:>8.1f} ({s.in_flight:>2} mb)"
                    f"          {s.workspace / GIB:>9.1f}  {s.total / GIB:>5.1f}")
    peak = est.peak
    verdict = ""
    if gpu_bytes:
        verdict = (f" of {gpu_bytes / GIB:.1f} GiB: {'fits' if peak.total <= gpu_bytes else 'DOES NOT FIT'}")
    rows.append(f"# peak: stage {peak.stage}, {peak.total / GIB:.1f} GiB{verdict} (estimate, see docs/memory.md)")
    return "\n".join(rows)


RECOMPUTE_OVERRIDES = ("model.config.recompute_granularity=full model.config.recompute_method=uniform "
                       "model.config.recompute_num_layers=1")


def _world(lay: Layout) -> int:
    return lay.dp * lay.tp * lay.pp * lay.cp


def _regroup(lay: Layout, **sizes) -> Layout | None:
    """``lay`` with new TP/PP/CP sizes on the same GPUs, None where they do not divide them."""
    new = vary(lay, **sizes)
    mp = new.tp * new.pp * new.cp
    if _world(lay) % mp:
        return None
    return vary(new, dp=_world(lay) // mp)


def candidate_changes(arch: Arch, lay: Layout, nodes: int) -> list[tuple[str, Layout]]:
    """(flag or override, layout) for each single change that lowers memory and is valid for the model."""
    out = []
    tp = lay.tp * 2
    if tp <= 8 and arch.num_attention_heads % tp == 0 and arch.num_query_groups % tp == 0:
        # From TP 1 the CLI turns sequence parallelism on with -T (recipes.job.tutorial): estimate what runs.
        out.append((f"-T {tp}", _regroup(lay, tp=tp, sequence_parallel=lay.sequence_parallel or lay.tp == 1)))
    if lay.tp > 1 and not lay.sequence_parallel:
        out.append(("--sequence_parallel", vary(lay, sequence_parallel=True)))
    if arch.num_layers >= lay.pp * 2:
        out.append((f"-P {lay.pp * 2}", _regroup(lay, pp=lay.pp * 2, vpp=None)))
    if lay.seq_length % (4 * lay.cp) == 0:
        out.append((f"-C {lay.cp * 2}", _regroup(lay, cp=lay.cp * 2)))
    if lay.micro_batch_size > 1:
        out.append((f"-m {lay.micro_batch_size // 2}", vary(lay, micro_batch_size=lay.micro_batch_size // 2)))
    if lay.recompute != "full":
        out.append((RECOMPUTE_OVERRIDES, vary(lay, recompute="full", recompute_method="uniform", recompute_layers=1)))
    if not lay.distributed_optimizer:
        out.append(("optim.config.use_distributed_optimizer=true", vary(lay, distributed_optimizer=True)))
    elif not lay.peft:
        out.append((f"-N {nodes * 2}", vary(lay, dp=lay.dp * 2)))
    return [(label, new) for label, new in out if new is not None]


def fixes(arch: Arch, lay: Layout, gpu_bytes: float, nodes: int) -> str:
    """The single changes that fit; else the smallest combination found greedily; else a hint."""
    singles = [(label, new) for label, new in candidate_changes(arch, lay, nodes)
               if estimate(arch, new).fits(gpu_bytes)]
    if singles:
        return " or ".join(f"{label} ({estimate(arch, new).peak.total / GIB:.1f} GiB)" for label, new in singles)
    chosen, current = [], lay
    for _ in range(6):  # each round applies the change that saves most
        options = candidate_changes(arch, current, nodes * 2 ** sum(c.startswith("-N") for c in chosen))
        if not options:
            break
        label, current = min(options, key=lambda item: estimate(arch, item[1]).peak.total)
        chosen.append(label)
        if estimate(arch, current).fits(gpu_bytes):
            return f"together {' '.join(chosen)} ({estimate(arch, current).peak.total / GIB:.1f} GiB)"
    return "more GPUs (-N) with higher -T/-P/-C, or a shorter -s/--seq_length"


def memory_problem(est: Estimate, gpu_bytes: float, source: str, nodes: int) -> str | None:
    peak = est.peak
    if peak.total <= gpu_bytes:
        return None
    return (f"memory: estimated {peak.total / GIB:.1f} GiB per GPU on pipeline stage {peak.stage}, "
            f"{(peak.total - gpu_bytes) / GIB:.1f} GiB over the {gpu_bytes / GIB:.1f} GiB GPU ({source}); "
            f"fits with {fixes(est.arch, est.layout, gpu_bytes, nodes)}; or skip with {SKIP_FLAG}")


def plan_gpu_memory(plan) -> tuple[float | None, str, str | None]:
    """(bytes of one GPU, where the number came from, a problem with it)."""
    if plan.gpu_memory is not None:
        try:
            size = float(plan.gpu_memory)
        except (TypeError, ValueError):
            size = -1.0
        if not size > 0 or size == float("inf"):  # nan and inf too (also from the site file)
            return None, plan.gpu_memory_source, (f"{plan.gpu_memory_source}: {plan.gpu_memory!r} is not a positive "
                                                  "number of GiB; pass e.g. --gpu_memory 80")
        return size * GIB, plan.gpu_memory_source, None
    if capabilities(plan.executor).on_this_machine and plan.local_gpus:
        size = local_gpu_memory()
        if size:
            return size, "the local GPUs (nvidia-smi)", None
    return None, "", None


def _layout_is_valid(opts) -> bool:
    """Sizes other checks accept; anything else is reported by them, not estimated here."""
    sizes = (opts.num_nodes, opts.num_gpus, opts.tensor_model_parallel_size, opts.pipeline_model_parallel_size,
             opts.context_parallel_size, opts.micro_batch_size, opts.global_batch_size or 1)
    if min(sizes) < 1 or opts.world_size % opts.model_parallel_size:
        return False
    return (opts.global_batch_size or 1) % (opts.micro_batch_size * opts.data_parallel_size) == 0


def check_plan(plan) -> list[str]:
    """Problems of ``plan``'s memory: the estimate over the GPU's memory, or a bad --gpu_memory."""
    if not backends.get(plan.opts.backend).estimates_memory:
        return []  # e.g. the small-model backend: debug-sized models, not estimated
    gpu, source, problem = plan_gpu_memory(plan)
    if problem:
        return [problem]
    if not plan.memory_check or not _layout_is_valid(plan.opts):
        return []
    if gpu is None:
        plan.notes.append("memory: GPU size unknown, the estimate is not checked; pass --gpu_memory GB "
                          "or set gpu_memory in the site file")
        return []

    try:  # the recipe recipes.job.built made with the overrides, when there were any
        recipe = plan.recipe if plan.recipe is not None else apply_overrides(backends.build_recipe(plan.opts), plan.overrides)
    except UsageError as exc:
        return [str(exc)]
    problem = memory_problem(estimate_recipe(recipe, plan.opts.world_size), gpu, source, plan.opts.num_nodes)
    return [problem] if problem else []


def plan_table(plan, recipe) -> str | None:
    """The table for the training recipe of ``plan`` (Megatron backend), with the GPU size when known."""
    if not backends.get(plan.opts.backend).estimates_memory:
        return None
    gpu, _, _ = plan_gpu_memory(plan)
    return format_table(estimate_recipe(recipe, plan.opts.world_size), gpu)
