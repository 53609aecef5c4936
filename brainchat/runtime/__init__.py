"""The runtime: the one thread that owns and steps the brain."""
