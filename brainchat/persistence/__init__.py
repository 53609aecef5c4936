"""Persistence: brain snapshots in HDF5."""
