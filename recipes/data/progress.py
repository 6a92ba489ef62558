"""Progress and the closing summary of a preprocessing run."""

from __future__ import annotations

import sys
import time
from collections import Counter

MB = 1024 * 1024
EXAMPLES_PER_REASON = 5


class RunStats:
    """Counts of what went in, what came out and what was skipped (with the first few line numbers)."""

    def __init__(self, bytes_total: int):
        self.bytes_total = bytes_total
        self.started = time.perf_counter()
        self.documents = self.empty_documents = self.tokens = self.bytes_in = self.bytes_out = 0
        self.skipped: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(where)

    @property
    def elapsed(self) -> float:
        return max(time.perf_counter() - self.started, 1e-9)

    def as_dict(self, outputs: dict[str, str], dtype_name: str) -> dict:
        elapsed = self.elapsed
        return {
            "outputs": outputs, "dtype": dtype_name,
            "documents": self.documents, "empty_documents": self.empty_documents, "tokens": self.tokens,
            "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
            "skipped": dict(self.skipped), "skipped_examples": self.examples,
            "elapsed_s": round(elapsed, 3),
            "docs_per_s": self.documents / elapsed, "mb_per_s": self.bytes_in / MB / elapsed,
            "tokens_per_s": self.tokens / elapsed,
        }


class Progress:
    """tqdm bar on a terminal (docs/s, MB/s, ETA from input bytes); Megatron-style lines in logs."""

    def __init__(self, stats: RunStats, enabled: bool, log_interval: int):
        self.stats = stats
        self.log_interval = log_interval
        self.next_log = log_interval
        self.bar = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=stats.bytes_total or None, unit="B", unit_scale=True, unit_divisor=1024,
                            desc="preprocess", file=sys.stderr, dynamic_ncols=True)

    def update(self, nbytes: int) -> None:
        stats = self.stats
        if self.bar is not None:
            self.bar.update(nbytes)
            self.bar.set_postfix_str(f"{stats.documents:,} docs {stats.documents / stats.elapsed:,.0f} docs/s",
                                     refresh=False)
        elif self.enabled and self.log_interval > 0 and stats.documents >= self.next_log:
            self.next_log = (stats.documents // self.log_interval + 1) * self.log_interval
            print(f"Processed {stats.documents:,} documents ({stats.documents / stats.elapsed:,.1f} docs/s, "
                  f"{stats.bytes_in / MB / stats.elapsed:,.2f} MB/s).", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_summary(summary: dict) -> str:
    lines = [f"wrote {prefix}.bin/.idx" for prefix in summary["outputs"].values()]
    lines.append(f"  documents  {summary['documents']:,}   tokens {summary['tokens']:,} ({summary['dtype']})")
    if summary.get("empty_documents"):
        lines.append(f"  empty      {summary['empty_documents']:,} documents without tokens (written, as Megatron does)")
    lines.append(f"  bytes      in {human_bytes(summary['bytes_in'])}   out {human_bytes(summary['bytes_out'])}")
    if summary.get("tokenizer"):
        lines.append(f"  tokenizer  {summary['tokenizer']}")
    skipped = summary["skipped"]
    if skipped:
        lines.append(f"  skipped    {sum(skipped.values()):,} documents:")
        for reason, count in sorted(skipped.items()):
            where = ", ".join(summary["skipped_examples"].get(reason, []))
            more = ", ..." if count > EXAMPLES_PER_REASON else ""
            lines.append(f"    {reason}: {count:,} (at {where}{more})")
    else:
        lines.append("  skipped    0 documents")
    lines.append(f"  elapsed    {summary['elapsed_s']:.2f} s   {summary['docs_per_s']:,.0f} docs/s   "
                 f"{summary['mb_per_s']:,.2f} MB/s   {summary['tokens_per_s']:,.0f} tokens/s")
    return "\n".join(lines)


def human_bytes(count: float) -> str:
    unit = "B"
    for larger in ("KB", "MB", "GB"):
        if count < 1024:
            break
        count, unit = count / 1024, larger
    return f"{count:,.0f} B" if unit == "B" else f"{count:,.2f} {unit}"
