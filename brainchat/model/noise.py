"""Counter-based membrane noise, keyed by (seed, step, neuron).

Every draw is a pure function of its key, so a run is reproducible without carrying a
generator state, any slice of neurons draws the same numbers as the whole brain (ready for a
partition across processes), and NumPy and CuPy produce bit-identical noise.

The key ``(step << 32 | neuron)`` is multiplied by an odd constant and offset by a
seed-derived constant (both bijections modulo 2**64), then put through the SplitMix64
finaliser (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
OOPSLA), also a bijection: distinct keys never share a 64-bit word.

The 64-bit word is cut into four 16-bit uniforms whose sum, centred and scaled to unit
variance, approximates a standard normal (Irwin-Hall distribution with n = 4). Its tails are
lighter than a Gaussian's: it is bounded at +-2*sqrt(3) = +-3.46 sigma, the two-sided
probability beyond 3 sigma is 4.3e-4 (Gaussian: 2.7e-3), and its excess kurtosis is -0.3.
For membrane noise that is harmless: firing is driven by the bulk of the distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK16 = np.uint64(0xFFFF)
_MEAN = 2.0 * 65535.0
_SCALE = 1.0 / (65536.0 / np.sqrt(3.0))  # sum of 4 uniforms on 0..65535 has sd 65536/sqrt(3)


def _splitmix_finalise(x: Any) -> Any:
    """SplitMix64's output function on a uint64 array, in place; returns it."""
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def seed_offset(seed: int) -> np.uint64:
    """A well-mixed 64-bit constant derived from the seed."""
    word = np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) * _GOLDEN
    return _splitmix_finalise(word)[0]


class CounterNoise:
    """Approximately standard-normal noise for ``neuron_ids`` at any step.

    ``neuron_ids`` are global ids (a partition passes its own slice); the per-neuron part of
    the key is precomputed once, so a step costs one add and the finaliser. The step enters
    the key modulo 2**32 (the noise repeats after 49.7 days of brain time).
    """

    def __init__(self, xp: Any, seed: int, neuron_ids: Any):
        self.xp = xp
        ids = xp.asarray(neuron_ids, dtype=xp.uint64)
        self.seed_offset = seed_offset(seed)
        self.neuron_keys: Any  # uint64 [n], the per-neuron part of every key: id * golden + seed offset
        self.neuron_keys = ids * _GOLDEN + self.seed_offset

    def uint64(self, step: int, part: slice = slice(None)) -> Any:
        """The raw 64-bit words of one step, ``[n]`` uint64 (of the neurons ``part`` only, if given)."""
        step_key = np.uint64((((step & 0xFFFFFFFF) << 32) * int(_GOLDEN)) & 0xFFFFFFFFFFFFFFFF)
        return _splitmix_finalise(self.neuron_keys[part] + step_key)

    def normal(self, step: int, dtype: Any = np.float32) -> Any:
        """Irwin-Hall(4) approximation of N(0, 1) for one step, ``[n]`` of ``dtype``."""
        word = self.uint64(step)
        total = word & _MASK16
        for shift in (16, 32):
            total += (word >> np.uint64(shift)) & _MASK16
        total += word >> np.uint64(48)
        centred = total.astype(np.float32)
        centred -= np.float32(_MEAN)
        centred *= np.float32(_SCALE)
        return centred if np.dtype(dtype) == np.float32 else centred.astype(dtype)
