"""Per-step statistics: records in and out, drops per reason, time; merged across tasks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepStats:
    label: str
    kind: str
    n_in: int = 0
    n_out: int = 0
    seconds: float = 0.0
    quarantined: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: dict[str, Counter] = field(default_factory=dict)
    #: how often the step took a fallback path, per kind (see ``Step.fallback``)
    fallbacks: Counter = field(default_factory=Counter)

    def counter(self, name: str) -> Counter:
        c = self.counters.get(name)
        if c is None:
            c = self.counters[name] = Counter()
        return c

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.label, "kind": self.kind, "in": self.n_in, "out": self.n_out,
                "dropped": dict(self.dropped.most_common()), "quarantined": self.quarantined,
                "seconds": round(self.seconds, 4),
                "counters": {k: dict(v.most_common()) for k, v in self.counters.items()},
                "fallbacks": dict(self.fallbacks.most_common())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StepStats":
        return cls(label=d["step"], kind=d["kind"], n_in=d["in"], n_out=d["out"],
                   seconds=d["seconds"], quarantined=d.get("quarantined", 0),
                   dropped=Counter(d.get("dropped", {})),
                   counters={k: Counter(v) for k, v in d.get("counters", {}).items()},
                   fallbacks=Counter(d.get("fallbacks", {})))

    def merge(self, other: "StepStats") -> None:
        self.n_in += other.n_in
        self.n_out += other.n_out
        self.seconds += other.seconds
        self.quarantined += other.quarantined
        self.dropped.update(other.dropped)
        self.fallbacks.update(other.fallbacks)
        for k, v in other.counters.items():
            self.counter(k).update(v)


@dataclass
class ReadStats:
    """What the readers saw: records read, skipped per reason, quarantined per reason."""

    files: int = 0
    read: int = 0
    bytes: int = 0
    skipped: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {"files": self.files, "read": self.read, "bytes": self.bytes,
                "skipped": dict(self.skipped.most_common()),
                "quarantined": dict(self.quarantined.most_common())}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReadStats":
        return cls(files=d.get("files", 0), read=d["read"], bytes=d.get("bytes", 0),
                   skipped=Counter(d.get("skipped", {})),
                   quarantined=Counter(d.get("quarantined", {})))

    def merge(self, other: "ReadStats") -> None:
        self.files += other.files
        self.read += other.read
        self.bytes += other.bytes
        self.skipped.update(other.skipped)
        self.quarantined.update(other.quarantined)


def merge_step_lists(target: list[StepStats], other: list[StepStats]) -> list[StepStats]:
    """Merge per-step stats by position (every task runs the same step list)."""
    if not target:
        return [StepStats.from_dict(s.to_dict()) for s in other]
    for mine, theirs in zip(target, other):
        mine.merge(theirs)
    return target
