"""Fault injection for tests: ``RECIPES_FAULT`` makes a training process kill or signal itself at an exact point.

This module is the hook's grammar, shared by the backends and the sharded preprocessing; each fires its own
faults (:mod:`recipes.hf.faults`, :mod:`recipes.mcore.faults`, :func:`recipes.data.shards.run_shard`).

A test hook, not a feature: unset (the normal case) it does nothing. Values, comma-separated::

    kill_after_step:3   every rank SIGKILLs itself right after optimizer step 3 (before a checkpoint due at 3)
    term_after_step:3   rank 0 sends itself SIGTERM after step 3: the run saves step 3 and exits 143
    kill_in_save:4      rank 0 SIGKILLs itself while checkpoint 4 is written: half of its state file is on
                        disk in ``.tmp-step=0000004/``, nothing renamed
    kill_in_shard:2     ``recipes.preprocess --shards``: shard 2's process SIGKILLs itself once part of its
                        ``.bin`` is on disk (recipes.data.shards; the launch suffix does not apply)
    kill_at_step:3      Megatron backend (recipes.mcore.faults): every rank SIGKILLs itself once the checkpoint
                        named ``step=3`` is written, before the next step runs

A fault fires in the first launch of a ``log_dir`` (launch 0 of ``launches.jsonl``), or in the launch
named by ``@N`` (``kill_after_step:5@1``): a relaunch with the same environment (a Slurm requeue) runs on.
Unlike a timer, the point is exact, so a test knows which checkpoint the relaunch must resume from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recipes.core.errors import UsageError

FAULT_ENV = "RECIPES_FAULT"
ACTIONS = ("kill_after_step", "term_after_step", "kill_in_save", "kill_in_shard", "kill_at_step")
_FAULT = re.compile(r"(\w+):(\d+)(?:@(\d+))?")


@dataclass(frozen=True)
class Fault:
    action: str
    step: int
    launch: int = 0


def parse_faults(text: str) -> list[Fault]:
    faults = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = _FAULT.fullmatch(item)
        if not match or match.group(1) not in ACTIONS:
            raise UsageError(f"{FAULT_ENV}={text!r}: {item!r} is not ACTION:STEP[@LAUNCH] with ACTION one of "
                             f"{', '.join(ACTIONS)}; unset {FAULT_ENV} for a normal run")
        faults.append(Fault(match.group(1), int(match.group(2)), int(match.group(3) or 0)))
    return faults
