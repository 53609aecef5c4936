"""The model layer: regions, pathways, neurons, plasticity, homeostasis, noise and vitals of the brain; the fused kernels."""
