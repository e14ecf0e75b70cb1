"""What the modeller's properties panel offers in its lists
(``GET /api/v1/definitions/{programme}/catalog``, ``api/v1/definitions.py``): the programme's
forms (``forms/schemas/<programme>/``), the decisions of its DMN files (drafts included, so a
decision added in a draft can be called at once) and the roles a lane may name. Labels come in
Arabic and French; the page picks its language."""

from __future__ import annotations

import json
from typing import Any

from lxml import etree

from api.i18n import LOCALES, catalog
from engine.definitions import DMN_NAMESPACES, KNOWN_LANES
from forms import registry as form_registry

#: Lanes may also group what no person works (script tasks, events): the "system" lane.
ROLES = (*sorted(KNOWN_LANES), "system")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def forms(programme: str) -> list[dict[str, Any]]:
    """Form keys a user task of ``programme`` may name, with each form's title."""
    folder = form_registry.SCHEMAS / programme
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.schema.json")):
        key = path.name.removesuffix(".schema.json")
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            schema = {}
        title = str(schema.get("title", key)) if isinstance(schema, dict) else key
        title_ar = str(schema.get("x-title-ar", title)) if isinstance(schema, dict) else key
        found.append({"key": key, "label": {"fr": title, "ar": title_ar}})
    return found


def decisions(sources: dict[str, str]) -> list[dict[str, str]]:
    """Decision ids (and names) of the DMN files; a draft that does not parse is skipped."""
    found = []
    for name in sorted(sources):
        if not name.endswith(".dmn") or "<!DOCTYPE" in sources[name][:4096].upper():
            continue
        try:
            root = etree.fromstring(sources[name].encode("utf-8"), _PARSER)
        except etree.XMLSyntaxError:
            continue
        for ns in DMN_NAMESPACES:
            for node in root.iter(f"{{{ns}}}decision"):
                if node.get("id"):
                    found.append(
                        {"id": node.get("id", ""), "name": node.get("name", ""), "file": name}
                    )
    return found


def roles() -> list[dict[str, Any]]:
    return [
        {"id": role, "label": {loc: catalog(loc).get(f"lane:{role}", role) for loc in LOCALES}}
        for role in ROLES
    ]
