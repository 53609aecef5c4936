"""Neuron models, one module each; a region names its model (``model = "lif"``). Only LIF exists yet (:mod:`.lif`)."""

from brainchat.model.neurons.lif import DT_MS, LIFParams, LIFState, lif_step, threshold, thresholds

__all__ = ["DT_MS", "LIFParams", "LIFState", "lif_step", "threshold", "thresholds"]
