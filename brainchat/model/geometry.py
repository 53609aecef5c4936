"""The 2-D sheet the neurons live on, and its regions.

Neuron ``i`` sits at row ``i // width``, column ``i % width``. The width is chosen so the
sheet is about 4 high by 5 wide (200,000 neurons: 400 x 500); when ``neurons`` is not a
multiple of the width the last row is partial. Neighbours are ``i +- 1`` and ``i +- width``
modulo ``neurons``: a helical boundary, so every neuron has exactly four and any size works.

Regions (ids in ``region_of[N]``):

* ``0``: cortex, everything not in a patch;
* ``1 .. 95``: the input patch of each printable ASCII character ``chr(32 + id - 1)``;
* ``96 .. 190``: the output patch of each printable ASCII character ``chr(32 + id - 96)``;
* ``191``: the end-of-reply patch, an output patch that says "the reply is over".

The input patches tile a band of rows at the top of the sheet, the output patches a band at
the bottom, each band a grid of 19 columns x 5 rows of equal rectangles (95 = 19 x 5). Each
band has about ``patch_band_fraction`` of the sheet's rows (at least 5). The end patch has the
size of a character's patch and sits in the cortex just above the output band, at the left.

The whole input band (ids ``0 .. memory_end``) is the working memory; the next
``association_fraction`` of the cortex rows (ids ``memory_end .. quiet_end``) is the
association band (see :mod:`brainchat.model.synapses`). The association band is cut into
``positions`` horizontal sectors: sector ``k`` is gated while the ``k``-th character of a reply
is read, so that what it holds then is specific to the line and the place in the reply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PRINTABLE = "".join(chr(code) for code in range(32, 127))
PATCH_GRID_COLUMNS = 19
PATCH_GRID_ROWS = 5
CORTEX = 0


def input_region(char: str) -> int:
    """Region id of a printable ASCII character's input patch."""
    return 1 + PRINTABLE.index(char)


def output_region(char: str) -> int:
    """Region id of a printable ASCII character's output patch."""
    return 1 + len(PRINTABLE) + PRINTABLE.index(char)


FIRST_OUTPUT_REGION = 1 + len(PRINTABLE)
END_REGION = 1 + 2 * len(PRINTABLE)
REGION_COUNT = END_REGION + 1


def layout(neurons: int, patch_band_fraction: float) -> tuple[int, int, int, int, int]:
    """``(width, height, full_rows, patch_height, patch_width)`` of a sheet.

    Raises ``ValueError`` when the two bands of patches would cover half the sheet or more.
    """
    width = max(PATCH_GRID_COLUMNS, round(math.sqrt(neurons * 5 / 4)))
    height = math.ceil(neurons / width)
    full_rows = neurons // width
    patch_height = max(1, round(full_rows * patch_band_fraction / PATCH_GRID_ROWS))
    if 2 * patch_height * PATCH_GRID_ROWS + patch_height >= full_rows:
        raise ValueError(f"the input and output bands would cover half of a {neurons}-neuron sheet or more")
    return width, height, full_rows, patch_height, width // PATCH_GRID_COLUMNS


@dataclass(frozen=True)
class Sheet:
    """Geometry of the sheet and the region of every neuron (host arrays)."""

    neurons: int
    width: int
    height: int
    region_of: np.ndarray  # int16 [N]
    memory_end: int  # neurons 0 .. memory_end are the input band, the working memory
    quiet_end: int  # neurons memory_end .. quiet_end are the association band
    sector_of: np.ndarray  # int16 [N]: position sector of an association neuron, -1 elsewhere

    @classmethod
    def build(cls, neurons: int, patch_band_fraction: float, positions: int = 1, association_fraction: float = 0.0) -> "Sheet":
        width, height, full_rows, patch_height, patch_width = layout(neurons, patch_band_fraction)
        band_rows = patch_height * PATCH_GRID_ROWS
        grid = np.zeros((full_rows, width), dtype=np.int16)
        for band_top, first_id in ((0, 1), (full_rows - band_rows, 1 + len(PRINTABLE))):
            for k in range(len(PRINTABLE)):
                row = band_top + (k // PATCH_GRID_COLUMNS) * patch_height
                col = (k % PATCH_GRID_COLUMNS) * patch_width
                grid[row : row + patch_height, col : col + patch_width] = first_id + k
        end_top = full_rows - band_rows - patch_height
        grid[end_top : end_top + patch_height, :patch_width] = END_REGION
        sectors = np.full((full_rows, width), -1, dtype=np.int16)
        association_rows = round((end_top - band_rows) * association_fraction)
        for k in range(positions if association_rows else 0):
            first = band_rows + (k * association_rows) // positions
            last = band_rows + ((k + 1) * association_rows) // positions
            sectors[first:last] = k
        sectors[grid != CORTEX] = -1
        region_of = np.zeros(neurons, dtype=np.int16)
        region_of[: full_rows * width] = grid.ravel()
        sector_of = np.full(neurons, -1, dtype=np.int16)
        sector_of[: full_rows * width] = sectors.ravel()
        region_of.setflags(write=False)
        sector_of.setflags(write=False)
        return cls(neurons, width, height, region_of, band_rows * width, (band_rows + association_rows) * width, sector_of)

    @property
    def patch_size(self) -> int:
        """Neurons in each input, output and end patch."""
        return int(np.count_nonzero(self.region_of == 1))

    def sector_members(self, sector: int) -> np.ndarray:
        """Neuron ids of one position sector of the cortex, ascending."""
        return np.flatnonzero(self.sector_of == sector)

    def neighbour_targets(self) -> np.ndarray:
        """``[N, 4]`` int32: right, left, down and up neighbour of every neuron (helical)."""
        ids = np.arange(self.neurons, dtype=np.int64)[:, None]
        offsets = np.array([1, -1, self.width, -self.width], dtype=np.int64)[None, :]
        return ((ids + offsets) % self.neurons).astype(np.int32)

    def region_members(self, region: int) -> np.ndarray:
        """Neuron ids of one region, ascending."""
        return np.flatnonzero(self.region_of == region)
