"""Neuron models, one module each; a region names its model (``model = "lif"``).

:mod:`.lif` is the brain's model today. :mod:`.adex` and :mod:`.izhikevich` (physical units,
sub-stepped, with the firing-pattern presets of their papers) step on their own and are
tested against fine-step references; a region cannot choose them yet (issue 13).
"""

from brainchat.model.neurons.lif import DT_MS, LIFParams, LIFState, lif_step, threshold, thresholds

__all__ = ["DT_MS", "LIFParams", "LIFState", "lif_step", "threshold", "thresholds"]
