"""Render each programme's lifecycle (its main process and its month process) to SVG.

The BPMN files carry no diagram information, so the page lays them out with bpmn-auto-layout and
draws them with bpmn-js, both from the bundle already built into ``api/static/vendor/viewer.js``
(``window.AqdViewer.show``), in the Debian Chromium through Playwright (no browser download).

    .venv/bin/python docs/lifecycles/render.py [programme ...]

writes ``docs/lifecycles/<process id>.svg``. Run it again after changing a process.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from lxml import etree
from playwright.sync_api import sync_playwright

from engine.definitions.diagram import process_xml

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = Path(__file__).resolve().parent
VIEWER = ROOT / "api" / "static" / "vendor" / "viewer.js"
CSS = ROOT / "api" / "static" / "vendor" / "bpmn-js.css"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}
html, body, #c {{ margin: 0; width: 2400px; height: 1400px; }}</style></head>
<body><div id="c"></div></body></html>"""
SHOW = """async (xml) => {
  const viewer = await window.AqdViewer.show(document.getElementById('c'),
                                             {xml, states: {}, hours: {}});
  return (await viewer.saveSVG()).svg;
}"""


BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def running_as_process(text: str, programme: str) -> str:
    """The main process's ``running`` loop (drawn collapsed there) as a process of its own."""
    root = etree.fromstring(text.encode())
    running = next(e for e in root.iter(f"{{{BPMN}}}subProcess") if e.get("id") == "running")
    process = etree.SubElement(root, f"{{{BPMN}}}process", id=f"{programme}_contract_running")
    process.set("name", "Active contract (running loop)")
    for child in running:
        if not isinstance(child.tag, str) or child.tag.split("}")[1] in (
            "incoming",
            "outgoing",
            "standardLoopCharacteristics",
            "laneSet",
        ):
            continue
        process.append(child)
    return str(etree.tostring(root, encoding="unicode"))


def stable(svg: str) -> str:
    """bpmn-js names arrow markers randomly: number them in order so a re-render is identical."""
    names: dict[str, str] = {}
    for found in re.findall(r'id="(marker-[a-z0-9]+)"', svg):
        names.setdefault(found, f"marker-{len(names) + 1}")
    return re.sub(r"marker-[a-z0-9]+", lambda m: names.get(m.group(0), m.group(0)), svg)


def processes(programme: str) -> list[tuple[str, dict[str, str]]]:
    folder = ROOT / "processes" / programme
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.bpmn"))}
    main = f"{programme}.bpmn"
    running = {main: running_as_process(sources[main], programme)}
    return [
        (f"{programme}_contract", sources),
        (f"{programme}_contract_running", running),
        (f"{programme}_month", sources),
    ]


def render(programmes: list[str]) -> list[Path]:
    written: list[Path] = []
    css = CSS.read_text(encoding="utf-8") if CSS.exists() else ""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 2400, "height": 1400})
        page.set_content(PAGE.format(css=css))
        page.add_script_tag(content=VIEWER.read_text(encoding="utf-8"))
        for programme in programmes:
            for process_id, sources in processes(programme):
                svg = page.evaluate(SHOW, process_xml(sources, process_id))
                path = OUT / f"{process_id}.svg"
                path.write_text(stable(svg) + "\n", encoding="utf-8")
                written.append(path)
        browser.close()
    return written


if __name__ == "__main__":
    names = sys.argv[1:] or ["civp", "karama", "crva", "csc", "cides"]
    for written in render(names):
        print(written.relative_to(ROOT))  # noqa: T201
