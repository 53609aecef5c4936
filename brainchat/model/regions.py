"""Regions: the declarations of ``[[regions]]`` turned into contiguous ranges of neuron ids.

Region ``r`` owns the ids ``start .. stop`` (in declaration order, no gaps), so a neuron pass
is a loop over a range with one model and a partition across processes is a slice. A region
may be cut into equal **patches** (the codec's characters: patch ``k`` is ids ``start + k *
patch_size ..``), each patch into **units** (``places`` interleaved parts: the working memory
holds a character at place ``p`` of a line in unit ``p mod places``), and into **sectors**
(equal runs of ids, gated one at a time while a reply is read). Each region has a 2-D grid of
``width`` columns (row-major, the last row may be partial) for the neighbour connector and
for pictures.

Sizes are resolved here, against ``brain.neurons``: a number, a share, or ``"rest"``.
:func:`resolve` checks the whole declaration (regions and pathways) and raises
:class:`LayoutError` naming the keys at fault; :mod:`brainchat.config` turns that into the
one-line error a user sees.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.config import NeuronSection, PathwaySpec, RegionSpec
from brainchat.model.neurons.models import RegionModel, region_model

PRINTABLE = "".join(chr(code) for code in range(32, 127))
INPUT_PATCHES = len(PRINTABLE)  # a patch per printable ASCII character
OUTPUT_PATCHES = len(PRINTABLE) + 1  # ... and the end of the reply
END_PATCH = len(PRINTABLE)  # the output region's last patch
MIN_UNIT_NEURONS = 12  # smallest working-memory unit (see Region.units)
WHOLE = "*"  # a pathway's source or target that is the whole brain
MAX_SYNAPSES = 500_000_000  # in one pathway


class LayoutError(ValueError):
    """A declaration that cannot be built; ``keys`` are the dotted config keys at fault."""

    def __init__(self, message: str, *keys: str):
        super().__init__(message)
        self.keys = keys


@dataclass(frozen=True)
class Region:
    """A resolved region: its id range and everything the build and the codec need of it."""

    index: int
    spec: RegionSpec
    start: int
    stop: int
    patch_size: int  # 0 without patches
    width: int
    neurons: NeuronSection  # [neurons] with this region's overrides
    model: RegionModel  # its neuron model (LIF: the [neurons] constants above)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def height(self) -> int:
        return math.ceil(self.size / self.width)

    @property
    def living(self) -> bool:
        return self.spec.living

    @property
    def floored(self) -> bool:
        """Membranes held at or above reset (rest): a quiet region's, unless its ``floor`` is false."""
        return not self.spec.living and self.spec.floor

    @property
    def places(self) -> int:
        """Units per patch actually used: a unit keeps at least 12 neurons (measured at 20k: 4
        places of 6 neurons taught worse than 2 of 12), so a small brain remembers fewer places."""
        if not self.patch_size:
            return 0
        return max(1, min(self.spec.places or 1, self.patch_size // MIN_UNIT_NEURONS))

    def patch(self, k: int) -> np.ndarray:
        """Neuron ids of patch ``k``, ascending."""
        first = self.start + k * self.patch_size
        return np.arange(first, first + self.patch_size)

    def units(self) -> list[np.ndarray]:
        """Every patch's units, patch by patch: unit ``p`` of a patch is its members ``p::places``."""
        return [self.patch(k)[place :: self.places] for k in range(self.spec.patches) for place in range(self.places)]

    def sector(self, k: int) -> np.ndarray:
        """Neuron ids of sector ``k`` (of ``spec.sectors``): a horizontal band of the grid's rows, ascending."""
        sectors = self.spec.sectors
        first, last = k * self.height // sectors, (k + 1) * self.height // sectors
        return np.arange(self.start + first * self.width, min(self.stop, self.start + last * self.width))


@dataclass(frozen=True)
class Layout:
    """Every region, in id order, and the pathways' declarations checked against them."""

    neurons: int
    regions: tuple[Region, ...]
    pathways: tuple[PathwaySpec, ...]

    def __getitem__(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def get(self, name: str) -> Region | None:
        return next((region for region in self.regions if region.name == name), None)

    def slow_pathways(self, region: Region) -> dict[str, float]:
        """The pathways with slow inhibition onto ``region``: name -> ``inhibitory_tau_ms``."""
        return {spec.name: spec.inhibitory_tau_ms for spec in self.pathways if spec.inhibitory_tau_ms and spec.target in (region.name, WHOLE)}

    def inhibitory_tau_ms(self, region: Region) -> float:
        """The decay of the slow inhibitory current onto ``region`` (ms; 0: it has none); its pathways agree on it (checked by :func:`resolve`)."""
        return max(self.slow_pathways(region).values(), default=0.0)

    def span(self, name: str) -> tuple[int, int]:
        """The id range of a region, or of the whole brain for ``"*"``."""
        if name == WHOLE:
            return 0, self.neurons
        region = self[name]
        return region.start, region.stop

    def grid_width(self, name: str) -> int:
        return sheet_width(self.neurons) if name == WHOLE else self[name].width

    @property
    def bounds(self) -> np.ndarray:
        """int64 ``[R + 1]``: region ``r`` is ``bounds[r] .. bounds[r + 1]``."""
        return np.array([r.start for r in self.regions] + [self.neurons], dtype=np.int64)

    def region_of(self) -> np.ndarray:
        """int16 ``[N]``: the region index of every neuron."""
        return np.repeat(np.arange(len(self.regions), dtype=np.int16), [r.size for r in self.regions])

    def groups(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """What the vitals count spikes by: ``group_of`` int32 ``[N]`` and each region's range of groups.

        A region with patches has a group per patch, one without a single group.
        """
        group_of = np.zeros(self.neurons, dtype=np.int32)
        ranges = []
        next_group = 0
        for region in self.regions:
            count = region.spec.patches or 1
            local = np.arange(region.size) // (region.patch_size or region.size)
            group_of[region.start : region.stop] = next_group + local
            ranges.append((next_group, next_group + count))
            next_group += count
        return group_of, ranges


def sheet_width(neurons: int) -> int:
    """Columns of a grid about 5 wide by 4 high."""
    return max(1, round(math.sqrt(neurons * 5 / 4)))


def _count(value: Any, neurons: int) -> int:
    return value if isinstance(value, int) else max(1, round(value * neurons))


def resolve(config: Any) -> Layout:
    """The layout of ``config``'s regions and pathways, or :class:`LayoutError` naming what does not fit."""
    neurons = config.brain.neurons
    specs = config.region_specs
    if config.brain.layout in ("chat", "sheet") and neurons < 1000:
        raise LayoutError(f"the {config.brain.layout} layout needs 1,000 neurons or more (its patches), not {neurons:,}", "brain.neurons")
    if not specs:
        raise LayoutError("a brain needs at least one region ([[regions]] tables, or brain.layout 'chat' or 'sheet')", "brain.layout")
    sizes: list[int | None] = []
    patch_sizes = []
    models: list[RegionModel] = []
    for spec in specs:
        key = f"regions.{spec.name}"
        if spec.patches:
            if spec.size != 0:
                raise LayoutError("a region with patches is sized by patches x patch_size; give no size", f"{key}.size")
            if not spec.patch_size:
                raise LayoutError("a region with patches needs a patch_size", f"{key}.patch_size")
            patch = _count(spec.patch_size, neurons)
            patch_sizes.append(patch)
            sizes.append(patch * spec.patches)
        else:
            patch_sizes.append(0)
            if spec.size == 0:
                raise LayoutError("a region needs a size (a number of neurons, a share of brain.neurons, or \"rest\")", f"{key}.size")
            if spec.places:
                raise LayoutError("working-memory units are parts of patches: give the region patches", f"{key}.places")
            sizes.append(None if spec.size == "rest" else _count(spec.size, neurons))
        for name, problem in (("noise_sigma", spec.noise_sigma), ("threshold_jump", spec.threshold_jump)):
            if problem < 0 and problem != -1:
                raise LayoutError("must be 0 or more, or -1 for the [neurons] value", f"{key}.{name}")
        try:
            models.append(region_model(spec.model, spec.preset, spec.parameters))
        except ValueError as error:
            field, _, message = str(error).partition(": ")
            raise LayoutError(message, f"{key}.{field}") from None
        lif_keys = [name for name, value in (("membrane_tau_ms", spec.membrane_tau_ms), ("threshold_jump", spec.threshold_jump + 1),
                                             ("threshold_tau_ms", spec.threshold_tau_ms)) if value]
        if spec.model != "lif" and lif_keys:
            raise LayoutError(f"membrane_tau_ms, threshold_jump and threshold_tau_ms are LIF keys; a {spec.model} region takes its preset and parameters",
                              f"{key}.{lif_keys[0]}")
        if spec.model == "poisson" and spec.living:
            raise LayoutError("a poisson region is a sensor: its input is the rate, it has no noise, drive or homeostasis (living = false)", f"{key}.living")
        if spec.living and spec.tonic:
            raise LayoutError("a living region has a drive of its own; tonic is for quiet regions", f"{key}.tonic")
        if not spec.living and (spec.target_fraction or spec.noise_sigma != -1):
            raise LayoutError("a quiet region has no homeostasis and no noise (make it living = true)",
                              f"{key}.{'target_fraction' if spec.target_fraction else 'noise_sigma'}")
    rest = [spec.name for spec, size in zip(specs, sizes) if size is None]
    if len(rest) > 1:
        raise LayoutError(f"only one region can take the rest of the neurons, not {', '.join(rest)}", *(f"regions.{name}.size" for name in rest))
    fixed = sum(size for size in sizes if size is not None)
    left = neurons - fixed
    if left < (1 if rest else 0) or (not rest and left != 0):
        detail = (f"the regions need {fixed:,} neurons and brain.neurons is {neurons:,}" if left < 0 or rest else
                  f"the regions hold {fixed:,} neurons and brain.neurons is {neurons:,} (size one region \"rest\")")
        raise LayoutError(detail, "brain.neurons", *(f"regions.{spec.name}.size" for spec in specs))
    start = 0
    regions = []
    for index, (spec, size, patch, model) in enumerate(zip(specs, sizes, patch_sizes, models)):
        size = left if size is None else size
        width = spec.width or (min(size, 19 * math.ceil(math.sqrt(patch))) if patch else sheet_width(size))
        if spec.sectors and math.ceil(size / min(width, size)) < spec.sectors:
            raise LayoutError(f"a grid of {math.ceil(size / min(width, size))} rows cannot be cut into {spec.sectors} sectors", f"regions.{spec.name}.sectors")
        regions.append(Region(index, spec, start, start + size, patch, min(width, size), _neuron_section(config.neurons, spec), model))
        start += size
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise LayoutError("two regions have the same name", "regions")
    layout = Layout(neurons, tuple(regions), config.pathway_specs)
    for spec in layout.pathways:
        _check_pathway(layout, spec)
    _check_inhibitory_tau(layout)
    _check_codec(layout, config)
    return layout


def _neuron_section(section: NeuronSection, spec: RegionSpec) -> NeuronSection:
    changes: dict[str, Any] = {}
    if spec.noise_sigma >= 0:
        changes["noise_sigma"] = spec.noise_sigma
    if spec.membrane_tau_ms:
        changes["membrane_tau_ms"] = spec.membrane_tau_ms
    if spec.threshold_jump >= 0:
        changes["threshold_jump"] = spec.threshold_jump
    if spec.threshold_tau_ms:
        changes["threshold_tau_ms"] = spec.threshold_tau_ms
    return dataclasses.replace(section, **changes)


def _check_pathway(layout: Layout, spec: PathwaySpec) -> None:
    key = f"pathways.{spec.name}"
    names = [r.name for r in layout.regions]
    for end in ("source", "target"):
        value = getattr(spec, end)
        if value != WHOLE and value not in names:
            raise LayoutError(f"names no region {value!r}; the regions are {', '.join(names)} (or \"*\", the whole brain)", f"{key}.{end}")
    source = None if spec.source == WHOLE else layout[spec.source]
    target = None if spec.target == WHOLE else layout[spec.target]
    connector = spec.connector
    needs = {"random": "fan_out", "patch": "fan_out", "every_patch": "fan_out", "loops": "fan_out", "units": "fan_in", "slots": "fan_in", "detectors": "fan_in", "probability": "probability"}
    if connector in needs and not getattr(spec, needs[connector]):
        raise LayoutError(f"a {connector} pathway needs {needs[connector]} > 0", f"{key}.{needs[connector]}")
    if spec.weight == 0 and spec.inhibitory_weight == 0 and connector not in ("snapshot", "detectors"):
        raise LayoutError("a pathway of zero weights does nothing: give weight (and inhibitory_weight)", f"{key}.weight")
    if connector in ("neighbours", "loops") and spec.source != spec.target:
        raise LayoutError(f"{connector} join a region to itself: source and target must be the same", f"{key}.target")
    lo, hi = layout.span(spec.source)
    t_lo, t_hi = layout.span(spec.target)
    if connector in ("random", "probability") and (lo, hi) == (t_lo, t_hi) and hi - lo < 2:
        raise LayoutError("a region of one neuron has no other neuron to connect to", f"{key}.source")
    if connector == "neighbours" and (hi - lo < 5 or layout.grid_width(spec.source) >= hi - lo):
        raise LayoutError("neighbours need a grid of 2 rows or more and 5 neurons or more (else a neuron is its own neighbour)", f"{key}.source")
    per_patch = target.spec.patches if connector == "every_patch" and target is not None else 1
    estimate = (hi - lo) * (spec.fan_out * per_patch or spec.probability * (t_hi - t_lo) or spec.fan_in * (t_hi - t_lo) / max(1, hi - lo))
    if connector == "all_to_all":  # stores one weight per source: its synapses are delivered as a count
        if spec.plastic:
            raise LayoutError("an all_to_all pathway has one weight for all its synapses: it cannot learn", f"{key}.plastic")
        for other in ("fan_out", "fan_in", "probability"):
            if getattr(spec, other):
                raise LayoutError(f"an all_to_all pathway joins every source to every target: {other} does not apply", f"{key}.{other}")
    elif estimate > MAX_SYNAPSES:
        raise LayoutError(f"would make about {estimate:,.0f} synapses (at most {MAX_SYNAPSES:,} per pathway: 8 bytes each, and as many again to deliver them)",
                          f"{key}.{'probability' if spec.connector == 'probability' else 'fan_out'}")
    if connector == "one_to_one" and layout.span(spec.source)[1] - layout.span(spec.source)[0] != layout.span(spec.target)[1] - layout.span(spec.target)[0]:
        raise LayoutError("one_to_one needs a source and a target of the same size", f"{key}.target")
    if connector == "patch" and not (source and target and source.spec.patches and target.spec.patches):
        raise LayoutError("patch-to-patch needs a source and a target with patches", f"{key}.connector")
    if connector == "every_patch" and not (target and target.spec.patches):
        raise LayoutError("every_patch reaches each patch of its target: the target needs patches", f"{key}.target")
    if connector in ("loops", "units", "detectors") and not (source and source.spec.patches):
        raise LayoutError(f"{connector} are made of the working-memory units of a region with patches", f"{key}.source")
    if connector in ("detectors", "slots"):  # the hippocampus's (model/hippocampus.py): weights written by its bindings, not learned
        if spec.plastic:
            raise LayoutError(f"a {connector} pathway is written by the hippocampus's bindings: it cannot learn", f"{key}.plastic")
        if target is None or source is None:
            raise LayoutError(f"a {connector} pathway joins two regions, not the whole brain", f"{key}.target")
    if connector == "slots" and not target.spec.sectors:
        raise LayoutError("slots reach a slot's neurons in every sector of the target: the target needs sectors", f"{key}.target")
    if spec.onto != "all" and connector != "random":
        raise LayoutError(f"onto = {spec.onto!r} chooses among a random pathway's targets; a {connector} pathway has its own", f"{key}.onto")
    if spec.plastic and spec.weight == 0:
        raise LayoutError("a plastic pathway needs an excitatory weight to learn", f"{key}.weight")


def _check_inhibitory_tau(layout: Layout) -> None:
    """The pathways with slow inhibition onto one region agree on its time constant (a region has one slow input)."""
    for region in layout.regions:
        taus = layout.slow_pathways(region)
        if len(set(taus.values())) > 1:
            listed = ", ".join(f"{name} {tau:g}" for name, tau in taus.items())
            raise LayoutError(f"the pathways onto {region.name!r} have different inhibitory_tau_ms ({listed}); a region has one slow inhibitory input",
                              *(f"pathways.{name}.inhibitory_tau_ms" for name in taus))


def _check_codec(layout: Layout, config: Any) -> None:
    """The codec's regions exist and fit: all three in the chat layout, input and output in the sheet (it has no gate); a custom layout may have none (a brain nobody talks to)."""
    codec = config.codec
    names = [r.name for r in layout.regions]
    required = {"chat": ("input_region", "output_region", "gate_region"), "sheet": ("input_region", "output_region")}.get(config.brain.layout, ())
    for key in required:
        name = getattr(codec, key)
        if name and name not in names:
            raise LayoutError(f"names no region {name!r}; the regions are {', '.join(names)} (empty: none)", f"codec.{key}")
    for key, patches in (("input_region", INPUT_PATCHES), ("output_region", OUTPUT_PATCHES)):
        region = layout.get(getattr(codec, key))
        if region is not None and region.spec.patches != patches:
            raise LayoutError(f"the codec's region {region.name!r} needs {patches} patches, it has {region.spec.patches}", f"codec.{key}", f"regions.{region.name}.patches")
    if codec.visual_region:
        visual = layout.get(codec.visual_region)
        if visual is None:
            raise LayoutError(f"names no region {codec.visual_region!r}; the regions are {', '.join(names)} (empty: none)", "codec.visual_region")
        if visual.spec.model != "poisson":
            raise LayoutError(f"the visual region {visual.name!r} must be a poisson region (model = \"poisson\"), not {visual.spec.model}",
                              "codec.visual_region", f"regions.{visual.name}.model")
    gate = layout.get(codec.gate_region) if codec.gate_region else None
    if gate is not None:
        if not gate.spec.sectors:
            raise LayoutError(f"the gated region {gate.name!r} has no sectors", f"regions.{gate.name}.sectors")
        if gate.spec.sectors < codec.max_reply_chars + 1:
            raise LayoutError(
                f"each reply character and the end need a sector of their own (sectors {gate.spec.sectors} < max_reply_chars {codec.max_reply_chars} + 1)",
                f"regions.{gate.name}.sectors", "codec.max_reply_chars",
            )
