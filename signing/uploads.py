"""The check of uploaded PDFs (``Plugins.upload_check_for("application/pdf")``): the bytes must
open as a PDF with pyHanko's reader — a cross-reference table or stream that resolves, a
catalogue with a page tree and at least one page. ``%PDF-`` followed by HTML, a truncated file
or a file whose objects do not resolve is refused. Here because only ``signing/`` imports
pyHanko; the engine calls it through the plug-in registry.
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader

#: A page tree deeper than this is refused (a loop of /Kids would never end otherwise).
MAX_DEPTH = 32


def _first_page(node: generic.DictionaryObject, depth: int = 0) -> generic.DictionaryObject:
    """The first leaf of the page tree (raises on a broken or cyclic tree)."""
    if depth > MAX_DEPTH:
        raise misc.PdfReadError("the page tree is too deep")
    if node.get("/Type") == "/Page":
        return node
    kids = node["/Kids"]
    if not isinstance(kids, generic.ArrayObject) or not kids:
        raise misc.PdfReadError("a page tree node without pages")
    first = kids[0].get_object()
    if not isinstance(first, generic.DictionaryObject):
        raise misc.PdfReadError("a page tree node that is not a dictionary")
    return _first_page(first, depth + 1)


def pdf_problem(content: bytes) -> str | None:
    """Why ``content`` does not open as a PDF with at least one page (None: it does)."""
    try:
        reader = PdfFileReader(io.BytesIO(content), strict=True)
        if reader.encrypted:
            return "an encrypted PDF cannot be read"
        pages = reader.root["/Pages"].get_object()
        count = int(pages["/Count"])
        if count < 1:
            return "a PDF without pages"
        _first_page(pages)
    except (misc.PdfError, KeyError, TypeError, ValueError, IndexError, RecursionError) as exc:
        return f"not a readable PDF ({type(exc).__name__})"
    return None
