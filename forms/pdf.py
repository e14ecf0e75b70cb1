"""HTML to PDF with WeasyPrint: the one module that imports it (the contract document in
``signing/documents.py``, the printable reports in ``forms/reports.py``).

WeasyPrint subsets the fonts it embeds with HarfBuzz-Subset (Debian's ``libharfbuzz-subset0``,
which ``scripts/system-deps.sh`` installs). Without that library it still renders, subsetting
with fontTools instead (slower, larger files), but says so in two ways: a DeprecationWarning
when it is imported and a logged warning for every font of every PDF. The first, under the
tests' ``filterwarnings = error``, became an exception inside the side effect that renders the
contract, far from its cause; the second printed 18 lines during ``make run``'s demo. Here the
missing library is logged once, as a warning naming the package, and neither message goes
further: what the PDF contains does not depend on it.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

log = logging.getLogger(__name__)

_IMPORT_WARNING = "HarfBuzz-Subset will be required"
_RENDER_WARNING = "Using fontTools instead of HarfBuzz-Subset"
_lock = threading.Lock()
_html_class: Any = None


class _SaidOnce(logging.Filter):
    """Drops WeasyPrint's per-font fallback warning: the missing library is logged once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_RENDER_WARNING)


def _weasyprint_html() -> Any:
    """WeasyPrint's ``HTML`` class, imported once (the import takes about a second)."""
    global _html_class  # noqa: PLW0603 - a lazy import, done once under the lock
    with _lock:
        if _html_class is None:
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=_IMPORT_WARNING, category=DeprecationWarning
                )
                from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415 (WeasyPrint loads when a PDF is first rendered: about a second)
                from weasyprint.text import ffi  # type: ignore[import-untyped]  # noqa: PLC0415 (as above)
            logging.getLogger("weasyprint").addFilter(_SaidOnce())
            if ffi.harfbuzz_subset is None:
                log.warning(
                    "libharfbuzz-subset0 is not installed: WeasyPrint subsets the PDF fonts "
                    "with fontTools (slower, larger files); install it with "
                    "'scripts/system-deps.sh run' or 'apt-get install libharfbuzz-subset0'"
                )
            _html_class = HTML
        return _html_class


def html_to_pdf(html: str, base_url: str) -> bytes:
    """Render ``html`` (resources relative to ``base_url``, a directory) to PDF bytes."""
    pdf = _weasyprint_html()(string=html, base_url=base_url).write_pdf()
    if not isinstance(pdf, bytes):  # write_pdf returns None only when given a target
        raise TypeError("WeasyPrint returned no PDF bytes")
    return pdf
