"""Snapshots of schema 2 (brainchat before the regions) converted to schema 3 on reading.

A schema-2 brain was one sheet: the input band (95 character patches, the working memory),
the association band (gated sectors), the living cortex around the output band (95 output
patches) and the end patch, with every synapse in one ``recurrent`` ``[N, 32]`` projection
and the four sheet neighbours in a ``local`` one. Its regions were not contiguous. The
conversion gives every neuron a new id so that the same neurons form the regions of
``brain.layout = "chat"`` (input, association, cortex, output; the end patch is the output's
last patch), in this order:

* input patch ``k``: its neurons in their old order (so a unit, every ``places``-th of them,
  is the same unit);
* the association band, in its old order (its sectors stay the same rows);
* the cortex: every other neuron in its old order, among them the input band's neurons
  outside the patches (they never fired: nothing reached them);
* output patch ``k``, then the end patch.

Every old synapse keeps its weight and joins the pathway of its source's and its target's
new regions (and whether it learned): the readout stays the plastic pathway
``association -> output``, the working-memory loops ``input -> input``, and so on. A
pathway takes as many slots per row as its fullest row needs. The working-memory phases
are read off the loops themselves. The converted brain is declared with ``brain.layout =
"custom"`` and explicit sizes, so it is the brain it was, whatever the defaults are now;
connector ``"snapshot"`` marks pathways whose synapses exist only in the file.

The noise of a neuron is keyed by its id, so a converted brain's cortex hears other noise
than it did; what it was taught (the readout's weights) carries over.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from brainchat.config import Config, config_from_toml, render_toml
from brainchat.errors import SnapshotError

PATCHES = 95
PATCH_COLUMNS, PATCH_ROWS = 19, 5
INPUT, ASSOCIATION, CORTEX, OUTPUT = range(4)
NAMES = ("input", "association", "cortex", "output")
# schema-2 defaults of the keys whose meaning moved (the schema-2 writer stored every key)
OLD_DEFAULTS = {
    "synapses": {"per_neuron": 32},
    "pathways": {"enabled": True, "places": 4, "positions": 9, "association_fraction": 0.6, "association_inhibition": 2.0, "output_threshold": 0.0},
    "sheet": {"patch_band_fraction": 0.1},
    "plasticity": {"enabled": True, "plastic": "output"},
}
# the chat layout's names for the pathways a conversion finds
DEFAULT_NAMES = {
    (INPUT, INPUT, False): "working_memory", (INPUT, ASSOCIATION, False): "memory_to_association",
    (INPUT, CORTEX, False): "memory_to_cortex", (ASSOCIATION, OUTPUT, True): "readout",
    (CORTEX, CORTEX, False): "cortex_recurrent", (CORTEX, OUTPUT, False): "cortex_to_output",
    (OUTPUT, CORTEX, False): "output_to_cortex",
}


def _old(document: dict, section: str, key: str) -> Any:
    return document.get(section, {}).get(key, OLD_DEFAULTS.get(section, {}).get(key))


def _geometry(neurons: int, band_fraction: float, association_fraction: float, enabled: bool) -> tuple[int, int, int, int]:
    """``(width, patch_size, memory_end, quiet_end)`` of a schema-2 sheet (its ``geometry.layout``)."""
    width = max(PATCH_COLUMNS, round(math.sqrt(neurons * 5 / 4)))
    full_rows = neurons // width
    patch_height = max(1, round(full_rows * band_fraction / PATCH_ROWS))
    band_rows = patch_height * PATCH_ROWS
    patch_size = patch_height * (width // PATCH_COLUMNS)
    if not enabled:
        return width, patch_size, 0, 0
    end_top = full_rows - band_rows - patch_height
    association_rows = round((end_top - band_rows) * association_fraction)
    return width, patch_size, band_rows * width, (band_rows + association_rows) * width


def convert(config_text: str, arrays: dict[str, np.ndarray], source: str) -> tuple[Config, dict[str, np.ndarray]]:
    """The schema-3 config and arrays of a schema-2 snapshot; :class:`SnapshotError` in one line if it cannot be."""
    try:
        document = tomllib.loads(config_text)
        return _convert(document, arrays, source)
    except (KeyError, ValueError, IndexError, tomllib.TOMLDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SnapshotError(f"{source} has snapshot schema 2 and cannot be converted to schema 3 ({reason})") from None


def _convert(document: dict, arrays: dict[str, np.ndarray], source: str) -> tuple[Config, dict[str, np.ndarray]]:
    n = int(document["brain"]["neurons"])
    enabled = bool(_old(document, "pathways", "enabled"))
    plastic_mode = _old(document, "plasticity", "plastic") if _old(document, "plasticity", "enabled") else "none"
    width, patch_size, memory_end, quiet_end = _geometry(
        n, float(_old(document, "sheet", "patch_band_fraction")), float(_old(document, "pathways", "association_fraction")), enabled,
    )
    region_of = np.asarray(arrays["codec/region_of"]).astype(np.int64)
    if region_of.shape != (n,) or np.bincount(region_of, minlength=192)[1:192].min() != patch_size:
        raise ValueError("its sheet is not the one its config describes")
    # the new id of every old neuron
    ids = np.arange(n)
    inputs = (region_of >= 1) & (region_of <= PATCHES)
    outputs = region_of > PATCHES
    association = ~inputs & ~outputs & (ids >= memory_end) & (ids < quiet_end)
    cortex = ~inputs & ~outputs & ~association
    role = np.select([inputs, association, cortex, outputs], [INPUT, ASSOCIATION, CORTEX, OUTPUT])
    patch = np.where(inputs, region_of - 1, np.where(outputs, region_of - 1 - PATCHES, 0))
    order = np.lexsort((ids, patch, role))  # old ids in new order: by role, then patch, then old id
    new_id = np.empty(n, dtype=np.int64)
    new_id[order] = ids
    sizes = [int(np.count_nonzero(role == r)) for r in range(4)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    excitatory = np.asarray(arrays["neurons/excitatory"]).astype(bool)

    converted: dict[str, np.ndarray] = {}
    per_neuron = {
        "neurons/membrane": "neurons/membrane", "neurons/threshold_fast": "neurons/threshold_fast",
        "neurons/threshold_homeostatic": "neurons/threshold_homeostatic", "neurons/refractory": "neurons/refractory",
        "neurons/excitatory": "neurons/excitatory", "neurons/synaptic_input": "synapses/synaptic_input",
        "neurons/last_spikes": "synapses/last_spikes", "homeostasis/recent_spikes": "homeostasis/recent_spikes",
        "plasticity/trace": "plasticity/trace", "vitals/spike_counts": "vitals/spike_counts",
    }
    for new_name, old_name in per_neuron.items():
        old = np.asarray(arrays[old_name])
        moved = np.empty_like(old)
        moved[new_id] = old
        converted[new_name] = moved
    for name in ("neuromodulators/dopamine", "neuromodulators/reward_baseline", "vitals/firing_fraction"):
        converted[name] = np.asarray(arrays[name])
    present = [r for r in range(4) if sizes[r]]  # the regions the converted brain has, in order
    drive = np.zeros(len(present), dtype=np.float32)
    drive[present.index(CORTEX)] = np.float32(arrays["homeostasis/drive"])  # the one drive was the cortex's
    converted["homeostasis/drive"] = drive

    # every synapse that was delivered: the random projection, and the local one of excitatory sources
    targets = np.asarray(arrays["synapses/recurrent_targets"]).astype(np.int64)
    weights = np.asarray(arrays["synapses/recurrent_weights"])
    k = targets.shape[1]
    local_targets = np.asarray(arrays["synapses/local_targets"]).astype(np.int64)
    local_weights = np.asarray(arrays["synapses/local_weights"])
    learns = np.zeros(targets.shape, dtype=bool)
    if plastic_mode != "none":
        sources = excitatory.copy()
        if enabled and plastic_mode == "output":
            sources[:memory_end] = False
            sources[quiet_end:] = False
        learns = np.repeat(sources[:, None], k, axis=1)
        if plastic_mode == "output":
            learns &= outputs[targets]
    local_rows = np.flatnonzero(excitatory)
    edge_source = np.concatenate([np.repeat(ids, k), np.repeat(local_rows, local_targets.shape[1])])
    edge_target = np.concatenate([targets.ravel(), local_targets[local_rows].ravel()])
    edge_weight = np.concatenate([weights.ravel(), local_weights[local_rows].ravel()])
    edge_learns = np.concatenate([learns.ravel(), np.zeros(local_rows.size * local_targets.shape[1], dtype=bool)])
    source_new, target_new = new_id[edge_source], new_id[edge_target]
    source_role, target_role = role[edge_source], role[edge_target]

    pathway_tables = []
    old_entry = np.cumsum(edge_learns) - 1  # an old plastic synapse's place in the old eligibility
    tags = []  # (new source, pathway, slot, old entry) of every plastic synapse
    groups = sorted({(int(a), int(b), bool(c)) for a, b, c in zip(source_role, target_role, edge_learns)})
    for src, dst, plastic in groups:
        name = DEFAULT_NAMES.get((src, dst, plastic)) or f"{NAMES[src]}_to_{NAMES[dst]}{'_plastic' if plastic else ''}"
        chosen = np.flatnonzero((source_role == src) & (target_role == dst) & (edge_learns == plastic))  # in old row-major order
        rows = source_new[chosen] - starts[src]
        order_in = np.argsort(rows, kind="stable")
        rows, chosen = rows[order_in], chosen[order_in]
        lengths = np.bincount(rows, minlength=sizes[src]).astype(np.int32)
        slots = max(1, int(lengths.max()))
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        slot = np.arange(rows.size) - first[rows]
        table_targets = np.zeros((sizes[src], slots), dtype=np.int32)
        table_weights = np.zeros((sizes[src], slots), dtype=weights.dtype)
        table_targets[rows, slot] = target_new[chosen]
        table_weights[rows, slot] = edge_weight[chosen]
        converted[f"pathways/{name}/targets"] = table_targets
        converted[f"pathways/{name}/weights"] = table_weights
        converted[f"pathways/{name}/lengths"] = lengths
        if plastic:
            tags.append(np.stack([rows + starts[src], np.full(rows.size, len(pathway_tables)), slot, old_entry[chosen]]))
        pathway_tables.append({"name": name, "source": NAMES[src], "target": NAMES[dst], "connector": "snapshot",
                               "fan_out": slots, "weight": 1.0, "plastic": plastic})
    places = max(1, min(int(_old(document, "pathways", "places")), patch_size // 12))
    converted["neurons/memory_phase"] = _phases(targets, region_of, memory_end, places, new_id, n) if enabled else np.full(n, -1, np.int8)
    # the schema-3 brain lists its plastic synapses by source, then pathway, then slot
    tags_all = np.concatenate(tags, axis=1) if tags else np.zeros((4, 0), dtype=np.int64)
    listed = np.lexsort((tags_all[2], tags_all[1], tags_all[0]))
    converted["plasticity/eligibility"] = np.asarray(arrays["plasticity/eligibility"], dtype=np.float32)[tags_all[3, listed]]

    regions = [
        {"name": "input", "patches": PATCHES, "patch_size": patch_size, "places": int(_old(document, "pathways", "places")),
         "living": not enabled, "excitatory": 1.0 if enabled else 0.8, "width": max(1, patch_size)},
    ]
    if sizes[ASSOCIATION]:
        regions.append({"name": "association", "size": sizes[ASSOCIATION], "sectors": int(_old(document, "pathways", "positions")),
                        "excitatory": 1.0, "tonic": -float(_old(document, "pathways", "association_inhibition")), "width": width})
    regions.append({"name": "cortex", "size": "rest", "living": True, "width": width})
    regions.append({"name": "output", "patches": PATCHES + 1, "patch_size": patch_size, "living": not enabled,
                    "threshold_offset": float(_old(document, "pathways", "output_threshold")) if enabled else 0.0, "width": max(1, patch_size)})
    config = _config(document, regions, pathway_tables, enabled, source)
    return config, converted


def _phases(targets: np.ndarray, region_of: np.ndarray, memory_end: int, places: int, new_id: np.ndarray, n: int) -> np.ndarray:
    """The working-memory phase of every (new) neuron, read off the loops: a unit's phase g sends its first 3 synapses to phase g + 1."""
    phase = np.full(n, -1, dtype=np.int8)
    ring = min(3, targets.shape[1])
    for code in range(1, PATCHES + 1):
        members = np.flatnonzero(region_of[:memory_end] == code)
        for place in range(places):
            unit = members[place::places]
            if unit.size < 3:
                continue
            label = {int(unit[0]): 0}
            changed = True
            while changed:
                changed = False
                for neuron in unit:
                    neuron = int(neuron)
                    ends = [int(t) for t in targets[neuron, :ring]]
                    if neuron in label:
                        for end in ends:
                            if end not in label:
                                label[end] = (label[neuron] + 1) % 3
                                changed = True
                    else:
                        known = [label[end] for end in ends if end in label]
                        if known:
                            label[neuron] = (known[0] - 1) % 3
                            changed = True
            for neuron, value in label.items():
                phase[new_id[neuron]] = value
    return phase


def _config(document: dict, regions: list, pathways: list, enabled: bool, source: str) -> Config:
    kept = {
        "brain": {key: value for key, value in document.get("brain", {}).items()},
        "neurons": {key: value for key, value in document.get("neurons", {}).items() if key != "excitatory_fraction"},
        "homeostasis": dict(document.get("homeostasis", {})),
        "plasticity": {key: value for key, value in document.get("plasticity", {}).items() if key != "plastic"},
        "codec": dict(document.get("codec", {})),
        "runtime": dict(document.get("runtime", {})),
    }
    kept["brain"]["layout"] = "custom"
    if not enabled:
        kept["codec"]["gate_region"] = ""
    text = "\n".join(
        [f"[{section}]\n" + "\n".join(f"{key} = {_value(value)}" for key, value in values.items()) for section, values in kept.items()]
        + ["[[regions]]\n" + "\n".join(f"{key} = {_value(value)}" for key, value in region.items()) for region in regions]
        + ["[[pathways]]\n" + "\n".join(f"{key} = {_value(value)}" for key, value in pathway.items()) for pathway in pathways]
    )
    config = config_from_toml(text, source)
    render_toml(config)  # it can be written back
    return config


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
