"""The sheet: its shape, helical neighbours and the character patches."""

from __future__ import annotations

import numpy as np
import pytest

from brainchat.model.geometry import CORTEX, PRINTABLE, REGION_COUNT, Sheet, input_region, output_region


def test_default_sheet_is_400_by_500():
    sheet = Sheet.build(200_000, 0.1)
    assert (sheet.height, sheet.width) == (400, 500)


@pytest.mark.parametrize("neurons", [1000, 1237, 20_000, 200_000])
def test_every_character_has_a_distinct_nonempty_input_and_output_patch(neurons):
    sheet = Sheet.build(neurons, 0.1)
    assert sheet.region_of.shape == (neurons,)
    sizes = np.bincount(sheet.region_of, minlength=REGION_COUNT)
    assert sizes.size == REGION_COUNT
    patch_sizes = sizes[1:]
    assert (patch_sizes > 0).all()
    assert (patch_sizes == patch_sizes[0]).all(), "all patches are the same size"
    assert sizes[CORTEX] > neurons // 2, "most of the sheet is cortex"
    ids = {input_region(c) for c in PRINTABLE} | {output_region(c) for c in PRINTABLE}
    assert len(ids) == 2 * len(PRINTABLE)


def test_input_patches_are_rectangles_at_the_top_and_outputs_at_the_bottom():
    sheet = Sheet.build(200_000, 0.1)
    rows_in = sheet.region_members(input_region("a")) // sheet.width
    rows_out = sheet.region_members(output_region("a")) // sheet.width
    cols = sheet.region_members(input_region("a")) % sheet.width
    assert rows_in.max() < sheet.height // 2 < rows_out.min()
    assert sheet.region_members(input_region("a")).size == (rows_in.max() - rows_in.min() + 1) * (cols.max() - cols.min() + 1)


def test_neighbours_are_helical_and_symmetric():
    sheet = Sheet.build(1237, 0.1)
    targets = sheet.neighbour_targets()
    assert targets.shape == (1237, 4)
    i = 600
    assert list(targets[i]) == [601, 599, 600 + sheet.width, 600 - sheet.width]
    assert targets[1236, 0] == 0 and targets[0, 1] == 1236
    pairs = {(a, b) for a in range(1237) for b in targets[a]}
    assert all((b, a) in pairs for a, b in pairs), "if b neighbours a, a neighbours b"


def test_too_small_a_sheet_is_refused():
    with pytest.raises(ValueError, match="half of a 1000-neuron sheet"):
        Sheet.build(1000, 0.5)
