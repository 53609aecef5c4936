"""Neuron models, one module each; a region names its model (``model = "lif" | "adex" | "izhikevich"``).

:mod:`.lif` is the default. :mod:`.adex` and :mod:`.izhikevich` are the papers' equations in
their own units with their presets, tested against fine-step references and Brian2;
:mod:`.models` is how a region runs them, scaled to the brain's threshold units (the NumPy
reference of the fused kernels' model pass).
"""

from brainchat.model.neurons.lif import DT_MS, LIFParams, LIFState, lif_step, threshold, thresholds

__all__ = ["DT_MS", "LIFParams", "LIFState", "lif_step", "threshold", "thresholds"]
