"""The model layer: geometry, neurons, synapses, homeostasis, noise and vitals of the brain."""
