"""The two homeostatic controllers, each on its own."""

from __future__ import annotations

import numpy as np

from brainchat.config import HomeostasisSection
from brainchat.model.homeostasis import HomeostasisState, adapt_thresholds, control_drive, count_spikes

SECTION = HomeostasisSection(target_fraction=0.05, drive_gain=0.1, drive_max=0.5, threshold_rate=0.01, threshold_interval=10)


def drive(backend, state):
    return float(backend.to_host(state.drive)[0])


def test_drive_rises_when_too_quiet_and_falls_when_too_busy(backend):
    xp = backend.xp
    state = HomeostasisState.initial(xp, 4, SECTION)
    control_drive(xp, state.drive, xp.asarray(0.0, dtype=xp.float32), SECTION, 0.05)
    assert np.isclose(drive(backend, state), 0.1 * 0.05)
    control_drive(xp, state.drive, xp.asarray(0.25, dtype=xp.float32), SECTION, 0.05)
    assert np.isclose(drive(backend, state), 0.005 - 0.1 * 0.2)


def test_drive_is_bounded(backend):
    xp = backend.xp
    state = HomeostasisState.initial(xp, 4, SECTION)
    for _ in range(1000):
        control_drive(xp, state.drive, xp.asarray(1.0, dtype=xp.float32), SECTION, 0.05)
    assert np.isclose(drive(backend, state), -0.5)
    for _ in range(1000):
        control_drive(xp, state.drive, xp.asarray(0.0, dtype=xp.float32), SECTION, 0.05)
    assert np.isclose(drive(backend, state), 0.5)


def test_thresholds_rise_for_busy_neurons_and_fall_for_quiet_ones(backend):
    xp = backend.xp
    state = HomeostasisState.initial(xp, 3, SECTION)
    thresholds = xp.zeros(3, dtype=xp.float16)
    pattern = np.array([[1, 0, 0]] * 5 + [[1, 1, 0]] * 1 + [[0, 0, 0]] * 4, dtype=bool)  # 6, 1, 0 spikes in 10 steps
    for spikes in pattern:
        count_spikes(state, backend.asarray(spikes))
    adapt_thresholds(xp, state.recent_spikes, thresholds, SECTION, 0.05)
    got = backend.to_host(thresholds).astype(np.float64)
    np.testing.assert_allclose(got, [0.01 * 5.5, 0.01 * 0.5, -0.01 * 0.5], rtol=1e-2)


def test_each_region_aims_at_its_own_target(backend):
    xp = backend.xp
    state = HomeostasisState.initial(xp, 2, SECTION)
    for _ in range(2):
        count_spikes(state, backend.asarray(np.array([True, True])))
    thresholds = xp.zeros(2, dtype=xp.float32)
    adapt_thresholds(xp, state.recent_spikes[:1], thresholds[:1], SECTION, 0.2)  # 2 spikes where 2 are expected
    adapt_thresholds(xp, state.recent_spikes[1:], thresholds[1:], SECTION, 0.05)  # 2 where 0.5 are
    np.testing.assert_allclose(backend.to_host(thresholds), [0.0, 0.01 * 1.5], atol=1e-7)
