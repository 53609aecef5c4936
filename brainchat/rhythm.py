"""The spectrum of the living population's activity: Welch's method on the per-step firing fraction, and its gamma peak.

The signal is the fraction of the living neurons that fired in each 1-ms step (what the
vitals record). Welch (1967): 1-s segments (1 Hz resolution), half overlapping, each with its
mean removed and a Hann window, their periodograms averaged. The peak is the largest power in
``band`` (30-80 Hz, gamma); ``peak_ratio`` is that power over the median power of the
baseline around it: ``BASELINE_HZ`` on either side, leaving out ``GUARD_HZ`` next to the peak.
A flat (noise) spectrum gives about 1-2; a clear rhythm several times that.
"""

from __future__ import annotations

import numpy as np

WINDOW_S = 1.0
GAMMA = (30.0, 80.0)
BASELINE_HZ = 20.0
GUARD_HZ = 3.0
MIN_SECONDS = 2.0  # at least two windows, so that there is an average
CLEAR = 3.0  # a peak this many times its baseline is a rhythm (issue 15's measure)


def spectrum(signal: np.ndarray, rate_hz: float = 1000.0, window_s: float = WINDOW_S) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, power) of ``signal`` sampled at ``rate_hz``, by Welch's method (module docstring)."""
    signal = np.asarray(signal, dtype=np.float64)
    length = int(round(window_s * rate_hz))
    if signal.size < length:
        raise ValueError(f"{signal.size / rate_hz:.2f} s of activity recorded; a spectrum needs at least {window_s:g} s")
    hann = np.hanning(length)
    starts = range(0, signal.size - length + 1, length // 2)
    power = np.zeros(length // 2 + 1)
    for count, start in enumerate(starts, 1):
        segment = signal[start : start + length]
        power += np.abs(np.fft.rfft((segment - segment.mean()) * hann)) ** 2
    power /= count * rate_hz * np.sum(hann**2)
    return np.fft.rfftfreq(length, 1.0 / rate_hz), power


def peak(frequencies: np.ndarray, power: np.ndarray, band: tuple[float, float] = GAMMA) -> dict:
    """The largest power in ``band``: ``peak_hz``, ``peak_power``, ``peak_ratio`` (over the baseline around it) and ``baseline_power``."""
    inside = (frequencies >= band[0]) & (frequencies <= band[1])
    at = np.flatnonzero(inside)[np.argmax(power[inside])]
    hz = float(frequencies[at])
    distance = np.abs(frequencies - hz)
    around = (distance <= BASELINE_HZ) & (distance > GUARD_HZ) & (frequencies > 0)
    baseline = float(np.median(power[around])) if around.any() else float("nan")
    return {"peak_hz": hz, "peak_power": float(power[at]), "baseline_power": baseline,
            "peak_ratio": float(power[at] / baseline) if baseline > 0 else float("inf")}


def report(signal: np.ndarray, rate_hz: float = 1000.0, top_hz: float = 200.0) -> dict:
    """What ``brainchat rhythm`` shows: the peak in gamma, and the spectrum up to ``top_hz`` (1-Hz bins)."""
    frequencies, power = spectrum(signal, rate_hz)
    shown = frequencies <= top_hz
    return {"seconds": round(signal.size / rate_hz, 3), "window_s": WINDOW_S, "band_hz": list(GAMMA), **peak(frequencies, power),
            "frequencies_hz": frequencies[shown].tolist(), "power": power[shown].tolist()}


def chart(result: dict, width: int = 40, step_hz: int = 5, top_hz: int = 150) -> list[str]:
    """The spectrum as text bars (log power, one line per ``step_hz``), the peak marked."""
    frequencies = np.asarray(result["frequencies_hz"])
    power = np.asarray(result["power"])
    rows = []
    for lo in range(step_hz, top_hz, step_hz):
        inside = (frequencies >= lo) & (frequencies < lo + step_hz)
        if inside.any():
            rows.append((lo, float(power[inside].mean())))
    if not rows:
        return []
    logs = np.log10([max(p, 1e-30) for _, p in rows])
    low, high = logs.min(), logs.max()
    lines = [f"power (log) by frequency; peak {result['peak_hz']:g} Hz, {result['peak_ratio']:.1f}x its baseline"]
    if result["peak_ratio"] < CLEAR and result.get("basket_cells") is False:
        lines.append('no clear gamma rhythm: its basket cells are off (they are on by default: leave out [[regions]] name = "basket" enabled = false)')
    for (lo, _), value in zip(rows, logs):
        filled = round((value - low) / (high - low or 1) * width)
        mark = " <- peak" if lo <= result["peak_hz"] < lo + step_hz else ""
        lines.append(f"{lo:>4}-{lo + step_hz:<4} Hz {'█' * filled}{'·' * (width - filled)}{mark}")
    return lines


def plot(result: dict, path: str) -> bool:
    """The spectrum as a PNG (log power), the gamma band shaded and the peak marked; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.semilogy(result["frequencies_hz"][1:], result["power"][1:], linewidth=0.9)
    axes.axvspan(*result["band_hz"], color="tab:orange", alpha=0.12, label="gamma 30-80 Hz")
    axes.axvline(result["peak_hz"], color="tab:red", linestyle=":", label=f"peak {result['peak_hz']:g} Hz, {result['peak_ratio']:.1f}x baseline")
    axes.set_xlabel("Hz")
    axes.set_ylabel("power of the firing fraction")
    axes.set_title(f"living population's activity, Welch {result['window_s']:g}-s windows over {result['seconds']:g} s")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
