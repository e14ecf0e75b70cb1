"""The import corpus (BPMN files written by other tools, see corpus/SOURCES.md) and the parts of a
file a save round-trip must keep: model elements by id and type, diagram bounds and waypoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CORPUS = sorted(CORPUS_DIR.glob("*.bpmn"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"


XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def model_elements(root: Any) -> dict[str, str]:
    """BPMN model elements by id: ``{id: local name}`` (an ``expression`` of
    ``xsi:type="tFormalExpression"`` is the same element as a ``formalExpression``)."""
    out = {}
    for node in root.iter(f"{{{BPMN}}}*"):
        if not node.get("id"):
            continue
        name = etree.QName(node).localname
        if name == "expression" and node.get(XSI_TYPE, "").endswith("tFormalExpression"):
            name = "formalExpression"
        out[str(node.get("id"))] = name
    return out


def di_layout(root: Any) -> dict[str, tuple[str, tuple[float, ...]]]:
    """Each diagram shape's bounds and each edge's waypoints with the plane that holds it, keyed
    by the model element it draws (and its place among the drawings of that element)."""
    out: dict[str, tuple[str, tuple[float, ...]]] = {}
    for node in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"):
        kind = etree.QName(node).localname
        key = f"{kind}:{node.get('bpmnElement', '')}"
        n = 0
        while f"{key}#{n}" in out:
            n += 1
        if kind == "BPMNShape":
            bounds = node.find(f"{{{DC}}}Bounds")
            values = (
                tuple(float(bounds.get(a, "0")) for a in ("x", "y", "width", "height"))
                if bounds is not None
                else ()
            )
        else:
            values = tuple(
                float(p.get(a, "0")) for p in node.findall(f"{{{DI}}}waypoint") for a in ("x", "y")
            )
        plane = node.getparent()
        out[f"{key}#{n}"] = (str(plane.get("bpmnElement", "")), values)
    return out


def _shift(
    old: tuple[float, ...], new: tuple[float, ...], shape: bool
) -> tuple[float, float] | None:
    """The translation taking ``old`` to ``new`` (same size, every point moved alike), if any."""
    if len(old) != len(new) or not old:
        return None
    if shape and old[2:] != new[2:]:
        return None
    ends = 2 if shape else len(old)
    points = [(new[i] - old[i], new[i + 1] - old[i + 1]) for i in range(0, ends, 2)]
    return points[0] if len(set(points)) == 1 else None


def layout_changes(before: Any, after: Any) -> tuple[list[str], list[str]]:
    """Diagram drawings ``after`` lost and those it moved. A drawing moved into another plane
    (bpmn-js opens a collapsed sub-process drawn in its parent's plane as a drill-down plane of
    its own) counts as kept when the whole plane moved by one translation."""
    old, new = di_layout(before), di_layout(after)
    lost = [key for key in old if key not in new]
    moved: list[str] = []
    shifts: dict[str, set[tuple[float, float]]] = {}
    for key, (plane, values) in old.items():
        if key not in new:
            continue
        new_plane, new_values = new[key]
        if plane == new_plane:
            if values != new_values:
                moved.append(f"{key}: {values} -> {new_values}")
            continue
        shift = _shift(values, new_values, key.startswith("BPMNShape"))
        if shift is None:
            moved.append(f"{key}: {values} -> {new_values} (plane {new_plane})")
        else:
            shifts.setdefault(new_plane, set()).add(shift)
    moved += [f"plane {p} moved unevenly: {sorted(s)}" for p, s in shifts.items() if len(s) > 1]
    return lost, moved
