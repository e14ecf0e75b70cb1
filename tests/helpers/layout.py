"""Layout and accessibility checks on a page open in Chromium (tests/web/test_layout.py).

* :func:`overflow`: how wide the document is against the viewport, with the elements that
  stick out (a page wider than the phone scrolls sideways);
* :func:`tap_problem`: whether a control is inside the viewport and tall enough to tap (44 px,
  WCAG 2.5.5);
* :func:`axe_violations`: axe-core's serious and critical violations. axe-core comes from npm
  (``package.json``'s devDependencies, installed by ``npm ci``) and is evaluated into the page
  through the DevTools protocol, which the page's Content-Security-Policy (``script-src
  'self'``) does not govern; no CDN, and nothing is added to what Aqd serves.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from playwright.sync_api import Locator, Page

from tests.conftest import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: A finger needs this much (WCAG 2.5.5, Apple and Android guidelines: 44 to 48 px).
TAP = 44
#: The impacts the tests refuse.
REFUSED_IMPACTS = ("serious", "critical")

_OVERFLOW = """(width) => {
  const doc = document.documentElement;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || (box.right <= width + 0.5 && box.left >= -0.5)) continue;
    const style = getComputedStyle(el);
    if (style.position === 'absolute' && box.right < 0) continue;  // a hidden skip link
    let hidden = false;
    for (let p = el.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX !== 'visible' && s.overflowX !== 'clip') { hidden = true; break; }
    }
    if (hidden) continue;
    const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/) : [];
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      classes.filter(Boolean).map(c => '.' + c).join('');
    out.push(`${name} [${Math.round(box.left)}, ${Math.round(box.right)}]`);
  }
  return {scroll: doc.scrollWidth, client: doc.clientWidth, culprits: out.slice(0, 6)};
}"""


def overflow(page: Page, width: int) -> tuple[int, list[str]]:
    """The document's scroll width and, when it is wider than ``width``, the first elements
    that stick out of the viewport (innermost last)."""
    result = cast(dict[str, Any], page.evaluate(_OVERFLOW, width))
    return int(result["scroll"]), [str(c) for c in result["culprits"]]


def tap_problem(locator: Locator, width: int, what: str) -> str | None:
    """None when ``locator``'s first element is visible, horizontally inside a viewport ``width``
    wide and at least :data:`TAP` px tall; otherwise what is wrong."""
    target = locator.first
    if target.count() == 0:
        return f"{what}: not on the page"
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    if box is None or not target.is_visible():
        return f"{what}: not visible"
    if box["x"] < -0.5 or box["x"] + box["width"] > width + 0.5:
        return f"{what}: outside the viewport ({box['x']:.0f} to {box['x'] + box['width']:.0f} px)"
    if box["height"] < TAP - 0.5:
        return f"{what}: {box['height']:.0f} px high, less than {TAP}"
    return None


@cache
def _axe_source() -> str:
    if not AXE.is_file():
        raise FileNotFoundError(f"{AXE} is missing: run npm ci (make install)")
    return AXE.read_text(encoding="utf-8")


_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""


def axe_violations(page: Page) -> list[str]:
    """axe-core's violations of :data:`REFUSED_IMPACTS` on the page as it is now, one line each."""
    if page.evaluate("typeof window.axe") != "object":
        page.evaluate(_axe_source() + "\n;0")
    found = cast(list[dict[str, Any]], page.evaluate(_RUN_AXE))
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in REFUSED_IMPACTS
    ]
