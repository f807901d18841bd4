"""Packing: best-fit decreasing of rendered sample lengths into fixed-length sequences, and the
padding report with and without packing."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Sequence

from datamill.post.chat_templates import ExportError

# ---------------------------------------------------------------------------------------------
# packing
# ---------------------------------------------------------------------------------------------

@dataclass
class PackingResult:
    seq_len: int
    packs: list[list[int]]            # indices of the samples in each packed sequence
    lengths: list[int]                 # (possibly truncated) length of each sample
    report: dict[str, Any]


def pack_lengths(lengths: Sequence[int], seq_len: int, *, overflow: str = "truncate") -> PackingResult:
    """Best-fit decreasing: place each sample (longest first) into the open sequence with the
    least room that still fits it, else open a new one. ``overflow``: a sample longer than
    ``seq_len`` is ``truncate``-d to it (as trainers do) or ``drop``-ped.

    The report: samples, sequences, real tokens, padding tokens and waste (padding ÷ all
    positions) with packing, and the same without packing, padding every sample to ``seq_len``
    (and to the longest sample, whichever is smaller)."""
    if seq_len < 1:
        raise ExportError("the packing length must be at least 1 token")
    if overflow not in ("truncate", "drop"):
        raise ExportError("overflow must be 'truncate' or 'drop'")
    lens = [int(x) for x in lengths]
    kept = [i for i, x in enumerate(lens) if x <= seq_len or overflow == "truncate"]
    eff = [min(x, seq_len) for x in lens]
    too_long = sum(1 for x in lens if x > seq_len)
    order = sorted(kept, key=lambda i: -eff[i])
    room: list[tuple[int, int]] = []   # (free space, pack id), sorted
    packs: list[list[int]] = []
    for i in order:
        need = eff[i]
        j = bisect.bisect_left(room, (need, -1))
        if j < len(room):
            free, pid = room.pop(j)
        else:
            free, pid = seq_len, len(packs)
            packs.append([])
        packs[pid].append(i)
        free -= need
        if free > 0:
            bisect.insort(room, (free, pid))
    real = sum(eff[i] for i in kept)
    positions = len(packs) * seq_len
    pad = positions - real
    longest = max((eff[i] for i in kept), default=0)
    nopack_len = min(seq_len, longest) if kept else 0
    nopack_positions = len(kept) * nopack_len
    report = {
        "seq_len": seq_len, "samples": len(lens), "samples_packed": len(kept), "sequences": len(packs),
        "tokens": real, "padding_tokens": pad, "padding_waste": round(pad / positions, 4) if positions else 0.0,
        "samples_per_sequence": round(len(kept) / len(packs), 2) if packs else 0.0,
        "too_long": too_long, "overflow": overflow,
        "truncated_tokens": sum(lens[i] - seq_len for i in kept if lens[i] > seq_len),
        "unpacked_sequences": len(kept),
        "unpacked_padding_tokens": nopack_positions - real,
        "unpacked_padding_waste": round((nopack_positions - real) / nopack_positions, 4) if nopack_positions else 0.0,
        "unpacked_pad_to": nopack_len,
    }
    return PackingResult(seq_len=seq_len, packs=packs, lengths=eff, report=report)


def format_packing(report: dict[str, Any]) -> str:
    r = report
    lines = [f"  packing into {r['seq_len']:,}-token sequences (best-fit decreasing)",
             f"    {r['samples_packed']:,} samples → {r['sequences']:,} sequences "
             f"({r['samples_per_sequence']} per sequence); {r['tokens']:,} tokens",
             f"    padding with packing:    {r['padding_tokens']:>12,} tokens  ({100 * r['padding_waste']:.1f}% waste)",
             f"    padding without packing: {r['unpacked_padding_tokens']:>12,} tokens  "
             f"({100 * r['unpacked_padding_waste']:.1f}% waste, each sample padded to {r['unpacked_pad_to']:,})"]
    if r["too_long"]:
        what = f"truncated ({r['truncated_tokens']:,} tokens cut)" if r["overflow"] == "truncate" else "dropped"
        lines.append(f"    {r['too_long']:,} sample(s) longer than {r['seq_len']:,} tokens were {what}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# trainer exports
# ---------------------------------------------------------------------------------------------

