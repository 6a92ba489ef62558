"""``recipes.preprocess --shards N``: tokenize N shards (a Slurm job array, or here one after another), merge.

Layout beside the output: ``<prefix>.shards/manifest.json`` (the plan: flags, input files with size and
mtime, each shard's byte ranges; after the merge also each shard's counts and checksums), and per
shard ``shard-00003_<key>_document.bin/.idx`` plus ``shard-00003.json``, its record (documents,
tokens, sha256 and size of each output), written atomically after its outputs are in place. A shard
is complete only when its record exists and its files still match it, so a shard killed mid-write
(temporary names, no record) or damaged later is redone by rerunning the same command. The merge
(:mod:`recipes.data.shard_merge`) concatenates complete shards in order: the same bytes as one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from dataclasses import asdict
from pathlib import Path

from recipes.core.atomic import atomic_file
from recipes.core.errors import UsageError
from recipes.core.faults import FAULT_ENV, parse_faults
from recipes.data.inputs import ByteRange, resolve_inputs
from recipes.data.mmap import preprocess
from recipes.data.progress import format_summary
from recipes.data.shard_plan import PlanError, plan_shards

MANIFEST = "manifest.json"
VERSION = 1
FAULT_ACTION = "kill_in_shard"  # RECIPES_FAULT=kill_in_shard:K (recipes.core.faults): SIGKILL mid-write of shard K
# Flags that change the output bytes: a rerun must pass the same ones (workers, log interval do not).
OUTPUT_FLAGS = ("json_keys", "tokenizer", "append_eod", "skip_bad_lines", "include_special_tokens",
                "legacy_tokenizer", "use_fast")


def shards_dir(output_prefix: str) -> Path:
    return Path(str(output_prefix) + ".shards")


def manifest_path(output_prefix: str) -> Path:
    return shards_dir(output_prefix) / MANIFEST


def shard_prefix(folder: Path, index: int) -> str:
    return str(folder / f"shard-{index:05d}")


def record_path(folder: Path, index: int) -> Path:
    return folder / f"shard-{index:05d}.json"


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, value: dict) -> None:
    with atomic_file(path) as temp:
        temp.write_text(json.dumps(value, indent=1) + "\n")


def check_count(count) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"--shards {count}: must be a whole number of at least 1, e.g. --shards 4")
    return count


def _file_facts(files) -> list[dict]:
    return [{"path": path, "size": os.stat(path).st_size, "mtime_ns": os.stat(path).st_mtime_ns} for path in files]


def new_manifest(input: str, output_prefix: str, count: int, flags: dict) -> dict:
    """The plan of a fresh sharded run (not written); UsageError when the input cannot be sharded."""
    inputs = resolve_inputs(input)
    if inputs.hub_dataset:
        raise UsageError(f"--shards {count}: --input {input} is a Hugging Face dataset id; shards need local "
                         "files (download it first) or drop --shards")
    try:
        plan = plan_shards(list(inputs.files), count)
    except PlanError as exc:
        raise UsageError(str(exc).replace("--input:", f"--input {input}:", 1)) from None
    return {"version": VERSION, "input": input, "output_prefix": output_prefix, "shards": count,
            "flags": {name: flags[name] for name in OUTPUT_FLAGS}, "files": _file_facts(inputs.files),
            "plan": [[asdict(part) for part in shard] for shard in plan]}


def difference(old: dict, new_input: str, count: int, flags: dict) -> str | None:
    """What differs between a recorded run and this command (one phrase), else None."""
    if old.get("version") != VERSION:
        return f"manifest version {old.get('version')} (this code writes {VERSION})"
    if old["input"] != new_input:
        return f"--input was {old['input']}, now {new_input}"
    if old["shards"] != count:
        return f"--shards was {old['shards']}, now {count}"
    for name in OUTPUT_FLAGS:
        if old["flags"].get(name) != flags[name]:
            return f"{name} was {old['flags'].get(name)!r}, now {flags[name]!r}"
    for fact in old["files"]:
        if not os.path.isfile(fact["path"]):
            return f"input {fact['path']} is gone"
        now = os.stat(fact["path"])
        if (now.st_size, now.st_mtime_ns) != (fact["size"], fact["mtime_ns"]):
            return f"input {fact['path']} changed (size {fact['size']} -> {now.st_size} bytes or modified)"
    files = [fact["path"] for fact in old["files"]]
    current = list(resolve_inputs(new_input).files)
    if current != files:
        return f"--input {new_input} now matches {len(current)} file(s), the manifest has {len(files)}"
    return None


def prepare(input: str, output_prefix: str, count: int, flags: dict, overwrite: bool) -> tuple[dict, list[int], bool]:
    """(manifest, shards still to do, fresh): reuse a matching manifest, refuse a different one, else plan anew.

    Writes nothing (see :func:`start`); ``overwrite`` plans anew whatever was there.
    """
    path = manifest_path(output_prefix)
    old = read_json(path) if path.is_file() else None
    if old is not None and not overwrite:
        why = difference(old, input, count, flags)
        if why:
            raise UsageError(f"--output-prefix {output_prefix}: {path} was made by another run ({why}); rerun "
                             "the same command to finish it, or pass --overwrite to start over")
        return old, incomplete(old), False
    if path.exists() and old is None and not overwrite:
        raise UsageError(f"--output-prefix {output_prefix}: {path} is unreadable; pass --overwrite to start over")
    return new_manifest(input, output_prefix, count, flags), list(range(count)), True


def start(manifest: dict) -> None:
    """Write a fresh plan, discarding earlier shards (``--overwrite``): only after every check passed."""
    folder = shards_dir(manifest["output_prefix"])
    if folder.exists():
        shutil.rmtree(folder)
    write_json(folder / MANIFEST, manifest)


def sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def shard_files(manifest: dict, index: int) -> dict[str, tuple[str, str]]:
    prefix = shard_prefix(shards_dir(manifest["output_prefix"]), index)
    return {key: (f"{prefix}_{key}_document.bin", f"{prefix}_{key}_document.idx")
            for key in manifest["flags"]["json_keys"]}


def complete(manifest: dict, index: int) -> dict | None:
    """The shard's record when its outputs exist and match the record's checksums, else None."""
    record = read_json(record_path(shards_dir(manifest["output_prefix"]), index))
    if not record or record.get("plan") != manifest["plan"][index]:
        return None
    for key, paths in shard_files(manifest, index).items():
        for path, kind in zip(paths, ("bin", "idx")):
            expected = record.get("outputs", {}).get(key, {}).get(kind)
            if not expected or not os.path.isfile(path) or os.path.getsize(path) != expected["bytes"] \
                    or sha256(path) != expected["sha256"]:
                return None
    return record


def incomplete(manifest: dict) -> list[int]:
    return [index for index in range(manifest["shards"]) if complete(manifest, index) is None]


def run_shard(manifest: str, index: int | None = None, workers: int = 1, log_interval: int = 1000,
              tokenizer_backend: str = "auto") -> dict:
    """Tokenize one shard (``index``, else ``$SLURM_ARRAY_TASK_ID``) and record it: an array task's body."""
    plan = json.loads(Path(manifest).read_text())
    index = int(os.environ["SLURM_ARRAY_TASK_ID"]) if index is None else index
    folder, flags = shards_dir(plan["output_prefix"]), plan["flags"]
    record = record_path(folder, index)
    record.unlink(missing_ok=True)  # redone: the old record must not vouch for new files
    summary = preprocess(plan["input"], shard_prefix(folder, index), json_keys=flags["json_keys"],
                         tokenizer=flags["tokenizer"], append_eod=flags["append_eod"], workers=workers,
                         skip_bad_lines=flags["skip_bad_lines"], log_interval=log_interval,
                         include_special_tokens=flags["include_special_tokens"],
                         legacy_tokenizer=flags["legacy_tokenizer"], use_fast=flags["use_fast"], overwrite=True,
                         ranges=[ByteRange(**part) for part in plan["plan"][index]], allow_empty=True,
                         on_chunk=_fault_hook(index), tokenizer_backend=tokenizer_backend)
    outputs = {key: {kind: {"bytes": os.path.getsize(path), "sha256": sha256(path)}
                     for path, kind in zip(paths, ("bin", "idx"))}
               for key, paths in shard_files(plan, index).items()}
    keep = ("documents", "empty_documents", "tokens", "bytes_in", "bytes_out", "skipped", "skipped_examples",
            "elapsed_s", "dtype")
    write_json(record, {"index": index, "plan": plan["plan"][index], "outputs": outputs,
                        **{name: summary[name] for name in keep}})
    print(f"recipes.preprocess: shard {index} of 0-{plan['shards'] - 1}: " + format_summary(summary), flush=True)
    return summary


def _fault_hook(index: int):
    """``RECIPES_FAULT=kill_in_shard:K``: SIGKILL after the first chunk of shard K reached its ``.bin``."""
    if FAULT_ACTION not in os.environ.get("RECIPES_FAULT", ""):  # the normal case: no Lightning import
        return None

    if not any(f.action == FAULT_ACTION and f.step == index for f in parse_faults(os.environ[FAULT_ENV])):
        return None

    def kill(outputs) -> None:
        for writer in outputs.writers.values():
            writer.files["bin"].flush()  # part of the shard is on disk, under its temporary name
        os.kill(os.getpid(), signal.SIGKILL)

    return kill


def progress(manifest: str) -> dict | None:
    """Shards done/total, documents and tokens so far, merged or not: for ``recipes.status``."""
    plan = read_json(Path(manifest))
    if not plan:
        return None
    folder = shards_dir(plan["output_prefix"])
    records = [read_json(record_path(folder, index)) for index in range(plan["shards"])]
    done = [r for r in records if r]
    return {"done": len(done), "total": plan["shards"], "documents": sum(r["documents"] for r in done),
            "tokens": sum(r["tokens"] for r in done), "merged": bool(plan.get("merged")),
            "blend": plan.get("blend")}
