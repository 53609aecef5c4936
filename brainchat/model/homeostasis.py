"""Homeostasis: what keeps the network from falling silent or exploding.

Two controllers, on two time scales, both aimed at a target fraction of the living neurons
firing per step (each living region's ``target_fraction``, by default
``homeostasis.target_fraction`` = 0.05, i.e. 50 Hz at dt = 1 ms):

* a drive per living region, an integral controller on the region's firing fraction toward
  its target, the same current into all of its neurons, updated every step on the device
  (no host round trip):
  ``drive <- clip(drive + drive_gain * (target - fraction), -drive_max, drive_max)``.
  It is fast and sets the population's level.
* a per-neuron threshold offset, updated every ``threshold_interval`` steps from the spikes each
  neuron fired since the last update, toward its own region's target:
  ``threshold_homeostatic += threshold_rate * (spikes - target * threshold_interval)``.
  It is slow and evens out the rates of single neurons (intrinsic plasticity in the sense of
  Turrigiano 2008, Cell 135:422). Updating in batches keeps increments large enough to
  register in float16.

The drives are kept in float32 whatever the neuron dtype: one number per region, and in
float16 the controller's small steps would be rounded away.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from brainchat.config import HomeostasisSection


@dataclass
class HomeostasisState:
    """``drive``: float32 ``[R]`` device array, one per region (a quiet region's is never used); ``recent_spikes``: int32 ``[N]`` since the last threshold update."""

    drive: Any
    recent_spikes: Any

    @classmethod
    def initial(cls, xp: Any, n: int, section: HomeostasisSection, regions: int = 1) -> "HomeostasisState":
        return cls(
            drive=xp.full(regions, section.drive_initial, dtype=xp.float32),
            recent_spikes=xp.zeros(n, dtype=xp.int32),
        )

    def arrays(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def control_drive(xp: Any, drive: Any, fraction: Any, section: HomeostasisSection, target: float) -> None:
    """One step of the integral drive controller of one region (``drive``: its 1-element view); ``fraction``: the step's firing fraction."""
    error = xp.float32(target) - fraction
    drive += xp.float32(section.drive_gain) * error.astype(xp.float32)
    xp.clip(drive, -section.drive_max, section.drive_max, out=drive)


def count_spikes(state: HomeostasisState, spiked: Any) -> None:
    state.recent_spikes += spiked


def adapt_thresholds(xp: Any, recent_spikes: Any, threshold_homeostatic: Any, section: HomeostasisSection, target: float) -> None:
    """Move each neuron's threshold offset by its surplus of spikes over ``target`` since the last call (one living region's slices).

    Only living regions adapt: the quiet ones fire or keep silent by design, and an output
    patch's rate is what the brain says (homeostasis there would erase what it learned to
    say). The caller resets the counts.
    """
    expected = target * section.threshold_interval
    surplus = recent_spikes.astype(threshold_homeostatic.dtype)
    surplus -= surplus.dtype.type(expected)
    surplus *= surplus.dtype.type(section.threshold_rate)
    threshold_homeostatic += surplus
