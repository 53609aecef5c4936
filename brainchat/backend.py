"""The array backend: NumPy on any machine, CuPy where a CUDA device is usable.

This module and the fused GPU kernels (:mod:`brainchat.model.kernels.fused_gpu`) are the only ones that
import cupy. The rest of the code receives a :class:`Backend`
and works with its array module ``xp``. The choice is made once at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from brainchat.errors import DeviceUnavailableError

CUDA_INSTALL_HINT = "install a CUDA build: pip install 'brainchat[cuda12]' (or cuda11 / cuda13)"


@dataclass(frozen=True)
class GpuProbe:
    """Outcome of looking for a usable CUDA device; ``reason`` says why not when unusable."""

    usable: bool
    reason: str
    name: str = ""


def probe_gpu() -> GpuProbe:
    """Look for a CUDA device that can actually run a kernel.

    ``cupy.cuda.is_available()`` is not enough: on a machine without a driver cupy-cuda11x
    13.x raises where 12x/13x 14.x return False, and a missing NVRTC only shows when the first
    kernel is compiled. So: import, count devices inside try/except, run one tiny kernel.
    """
    try:
        import cupy
    except ModuleNotFoundError:
        return GpuProbe(False, "CuPy is not installed")
    except Exception as error:  # a broken CUDA install can raise anything at import
        return GpuProbe(False, f"CuPy failed to import ({_first_line(error)})")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return GpuProbe(False, f"no CUDA driver or device ({_first_line(error)})")
    if count < 1:
        return GpuProbe(False, "the CUDA driver reports no device")
    try:
        probe = cupy.arange(8, dtype=cupy.float32)
        if float((probe * 2.0 + 1.0).sum()) != 64.0:
            return GpuProbe(False, "a test kernel on the GPU returned a wrong result")
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception as error:
        return GpuProbe(False, f"a test kernel could not run on the GPU ({_first_line(error)})")
    return GpuProbe(True, "", name)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


@dataclass(frozen=True)
class Backend:
    """An array module plus the few operations that differ between NumPy and CuPy."""

    name: str  # "numpy" or "cupy"
    xp: ModuleType
    description: str
    note: str = ""  # why the GPU was not used, when "auto" fell back to the CPU

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"

    @property
    def device(self) -> str:
        return "gpu" if self.is_gpu else "cpu"

    def asarray(self, host: np.ndarray, dtype: Any = None) -> Any:
        """Copy a host array to the device (a no-op view on NumPy)."""
        return self.xp.asarray(host, dtype=dtype)

    def to_host(self, array: Any) -> np.ndarray:
        """A host copy (one device-to-host transfer on CuPy), never a view of live state."""
        if self.is_gpu:
            return array.get()
        return np.array(array, copy=True)

    def deliver_spikes(self, spiked: Any, targets: Any, weights: Any, lengths: Any, out: Any, slow: int = 0) -> None:
        """Add row ``i``'s first ``lengths[i]`` synapses into ``out[targets[i, :]]`` for every source ``i`` that spiked.

        ``slow`` > 0: the negative (inhibitory) weights go to ``out[targets + slow]`` instead
        (the brain's slow inhibitory half of its input buffer).

        ``spiked`` is a boolean ``[n]`` (the sources' slice of the brain's spikes), ``targets``
        int32 ``[n, K]``, ``weights`` ``[n, K]``, ``lengths`` int32 ``[n]``. On NumPy only the
        rows of the spiking neurons are gathered (event-driven, summed in spike order, then
        slot order, so the result is reproducible). On CuPy one thread per synapse adds its
        weight with an atomic only when its neuron spiked, so the host never has to learn the
        spike count; the order of the atomic sums varies, so float results vary in the last
        bits from run to run. float16 has no atomic add there and uses a masked scatter.
        """
        xp = self.xp
        if self.is_gpu:
            live = spiked[:, None] & (xp.arange(targets.shape[1], dtype=xp.int32)[None, :] < lengths[:, None])
            if weights.dtype == np.float16:
                import cupyx

                where = targets + (weights < 0).astype(targets.dtype) * slow if slow else targets
                cupyx.scatter_add(out, where.ravel(), (weights * live.astype(weights.dtype)).ravel())
            else:
                _gpu_kernels()["deliver"](live, targets, weights, slow, out)
        else:
            fired = np.flatnonzero(spiked)
            if fired.size:
                live = np.arange(targets.shape[1])[None, :] < lengths[fired][:, None]
                where = targets[fired][live]
                given = weights[fired][live]
                if slow:
                    where = where + (given < 0) * np.int64(slow)
                np.add.at(out, where, given)

    def region_totals(self, region_of: Any, counts: Any, regions: int) -> Any:
        """``[regions]`` float64 sums of ``counts[N]`` by ``region_of[N]`` (int32), on the device.

        ``cupy.bincount`` synchronises with the host to check its input, so the GPU path
        scatters instead.
        """
        if self.is_gpu:
            import cupyx

            totals = self.xp.zeros(regions, dtype=self.xp.float64)
            cupyx.scatter_add(totals, region_of, counts.astype(self.xp.float64))
            return totals
        return np.bincount(region_of, weights=counts, minlength=regions)

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); nothing to wait for on NumPy."""
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


_KERNELS: dict[str, Any] = {}


def _gpu_kernels() -> dict[str, Any]:
    """CuPy kernels, compiled on first use."""
    if not _KERNELS:
        import cupy

        _KERNELS["deliver"] = cupy.ElementwiseKernel(
            "bool spiked, int32 target, T weight, int64 slow",
            "raw T out",
            "if (spiked) atomicAdd(&out[weight < 0 ? target + slow : (long long)target], weight)",
            "brainchat_deliver_spikes",
        )
    return _KERNELS


def numpy_backend(note: str = "") -> Backend:
    return Backend("numpy", np, f"cpu (NumPy {np.__version__})", note)


def select_backend(device: str = "auto") -> Backend:
    """The backend for ``device`` = ``"auto"``, ``"cpu"`` or ``"gpu"``.

    ``"gpu"`` without a usable device raises :class:`DeviceUnavailableError`.
    """
    if device == "cpu":
        return numpy_backend()
    probe = probe_gpu()
    if probe.usable:
        import cupy

        return Backend("cupy", cupy, f"gpu ({probe.name}, CuPy {cupy.__version__})")
    if device == "gpu":
        raise DeviceUnavailableError(
            f"device 'gpu' asked for, but {probe.reason}; {CUDA_INSTALL_HINT}, or use --device cpu"
        )
    return numpy_backend(note=probe.reason)
