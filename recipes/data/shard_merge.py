"""The last step of ``recipes.preprocess --shards N``: merge the shards into one dataset, or print a blend.

The merge appends each complete shard, in order, to one ``IndexedWriter`` per key (the ``.bin`` bytes
back to back; the index's lengths and document ends shifted), through :class:`MmapOutputs`: temporary
names until every key is done, so a merge killed half way leaves no complete-looking pair and a rerun
redoes it. The result equals a one-process run byte for byte. The shards' counts and checksums then go
into the manifest (atomically).

``--no-merge`` instead verifies the shards and prints a ``-D`` blend of them weighted by token count:
Megatron's ``BlendedDataset`` draws samples from each prefix in proportion to its weight, and a shard
holds samples in proportion to its tokens, so token weights draw from the shards as the merged dataset
would; equal weights would over-sample small shards.
"""

from __future__ import annotations

import time

from recipes.core.errors import UsageError
from recipes.data.indexed import IndexedWriter
from recipes.data.mmap import MmapOutputs
from recipes.data.progress import format_summary
from recipes.data.shards import complete, read_json, shard_prefix, shards_dir, write_json

PROG = "recipes.preprocess"


def finish_shards(manifest: str, merge: bool = True, overwrite: bool = False) -> dict:
    """Merge (or blend) the shards of ``manifest``; the dependent task of the array. Returns the summary."""
    from pathlib import Path

    plan = read_json(Path(manifest))
    if plan is None:
        raise UsageError(f"{manifest}: missing or unreadable; rerun the recipes.preprocess --shards command")
    records = [complete(plan, index) for index in range(plan["shards"])]
    missing = [index for index, record in enumerate(records) if record is None]
    if missing:
        raise UsageError(f"{manifest}: shard(s) {', '.join(map(str, missing))} of {plan['shards']} missing or "
                         "incomplete; rerun the same command to redo only those")
    plan["results"] = records
    summary = _summary(plan, records)
    if summary["tokens"] == 0:
        raise UsageError(f"--input {plan['input']}: no tokens to write in any of the {plan['shards']} shards; "
                         f"pass a file with non-empty {plan['flags']['json_keys'][0]!r} values")
    if merge:
        summary["bytes_out"] = _merge(plan, overwrite)
        plan["merged"] = {key: prefix for key, prefix in summary["outputs"].items()}
        print(f"{PROG}: merged {plan['shards']} shards; " + format_summary(summary), flush=True)
    else:
        plan["blend"] = blend_spec(plan, records)
        print(f"{PROG}: {plan['shards']} shards in {shards_dir(plan['output_prefix'])}; "
              f"{summary['documents']:,} documents, {summary['tokens']:,} tokens", flush=True)
        for key, spec in plan["blend"].items():
            print(f"blend ({key}, token-count weights): -D \"{spec}\"", flush=True)
    write_json(Path(manifest), plan)
    return summary


def _merge(plan: dict, overwrite: bool) -> int:
    keys = plan["flags"]["json_keys"]
    outputs = MmapOutputs(plan["output_prefix"], keys)
    outputs.check(overwrite)
    folder = shards_dir(plan["output_prefix"])
    dtype = plan["results"][0]["dtype"]
    try:
        outputs.open(dtype)
        for key, writer in outputs.writers.items():
            for index in range(plan["shards"]):
                writer.add_dataset(f"{shard_prefix(folder, index)}_{key}_document")
        return outputs.commit()
    except BaseException:
        outputs.abort()
        raise


def blend_spec(plan: dict, records: list[dict]) -> dict[str, str]:
    """``{key: "W1 PREFIX1 W2 PREFIX2 ..."}``, weights = tokens of the shard; shards without tokens left out."""
    folder = shards_dir(plan["output_prefix"])
    return {key: " ".join(f"{record['tokens']} {shard_prefix(folder, index)}_{key}_document"
                          for index, record in enumerate(records) if record["tokens"])
            for key in plan["flags"]["json_keys"]}


def _summary(plan: dict, records: list[dict]) -> dict:
    """The shards' summaries added up, in the form of a one-process summary (rates over the tasks' time)."""
    elapsed = max(sum(r["elapsed_s"] for r in records), 1e-9)
    skipped, examples = {}, {}
    for record in records:
        for reason, count in record["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + count
            examples.setdefault(reason, []).extend(record["skipped_examples"].get(reason, []))
    total = {name: sum(r[name] for r in records) for name in ("documents", "empty_documents", "tokens", "bytes_in")}
    return {"outputs": {key: f"{plan['output_prefix']}_{key}_document" for key in plan["flags"]["json_keys"]},
            "dtype": records[0]["dtype"], **total, "bytes_out": sum(r["bytes_out"] for r in records),
            "skipped": skipped, "skipped_examples": {k: v[:5] for k, v in examples.items()},
            "elapsed_s": elapsed, "docs_per_s": total["documents"] / elapsed,
            "mb_per_s": total["bytes_in"] / (1 << 20) / elapsed, "tokens_per_s": total["tokens"] / elapsed,
            "finished": time.time()}
