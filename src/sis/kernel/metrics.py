"""Kernel metrics primitives: counters live where they are counted; latency goes into
`LatencyHistogram`, a log-linear histogram cheap enough to record every context switch."""

from __future__ import annotations

import math

# Bucket upper bounds in ns: 4 sub-buckets per power of two from 64 ns to ~69 s.
_SUB = 4
BOUNDS_NS: tuple[int, ...] = tuple(
    int(2 ** (e + s / _SUB)) for e in range(6, 36) for s in range(1, _SUB + 1)
)


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_NS) + 1)
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0

    def record(self, ns: int) -> None:
        if ns <= 64:
            idx = 0
        else:
            # Index from the exponent: log2 is cheaper than a bisect over 120 bounds.
            idx = max(0, min(len(BOUNDS_NS), math.ceil((math.log2(ns) - 6) * _SUB) - 1))
            if BOUNDS_NS[min(idx, len(BOUNDS_NS) - 1)] < ns:
                idx += 1
        self.counts[idx] += 1
        self.count += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def percentile(self, p: float) -> int:
        """Upper bound of the bucket holding the p-th percentile (0 if empty)."""
        if self.count == 0:
            return 0
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(BOUNDS_NS[i], self.max_ns) if i < len(BOUNDS_NS) else self.max_ns
        return self.max_ns

    def buckets(self) -> list[tuple[int, int]]:
        """Cumulative (upper bound ns, count) pairs for the non-empty range (Prometheus style)."""
        out, seen = [], 0
        last = max((i for i, c in enumerate(self.counts) if c), default=-1)
        for i in range(min(last + 1, len(BOUNDS_NS))):
            seen += self.counts[i]
            out.append((BOUNDS_NS[i], seen))
        return out
