"""Random number sources. Every random choice in the kernel comes from a seeded `Rng`,
so a run can be replayed from its seed."""

from __future__ import annotations

import os

_MASK64 = (1 << 64) - 1


class Rng:
    """SplitMix64: tiny, fast, statistically sound, and deterministic for a given seed."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:
            seed = int.from_bytes(os.urandom(8), "little")
        self.seed = seed & _MASK64
        self._state = self.seed

    def next_u64(self) -> int:
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK64
        z = self._state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def random(self) -> float:
        """Uniform float in [0, 1)."""
        return (self.next_u64() >> 11) / float(1 << 53)

    def randrange(self, n: int) -> int:
        """Uniform integer in [0, n)."""
        if n <= 0:
            raise ValueError("randrange needs n > 0")
        return self.next_u64() % n

    def chance(self, probability: float) -> bool:
        """True with the given probability (0.0 .. 1.0)."""
        return probability > 0 and self.random() < probability

    def bytes(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += self.next_u64().to_bytes(8, "little")
        return bytes(out[:n])
