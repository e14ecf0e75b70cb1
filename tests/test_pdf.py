"""PDF rendering does not depend on whether the optional HarfBuzz-Subset library is present
(``forms/pdf.py``): WeasyPrint falls back to fontTools, and its warnings about it neither
become errors (``filterwarnings = error`` in the tests) nor repeat for every font."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from forms import pdf

ROOT = Path(__file__).resolve().parent.parent
HTML = (
    '<html lang="ar" dir="rtl"><body style="font-family: \'Noto Sans Arabic\'">'
    '<p>عقد إدماج لحاملي الشهادات العليا</p><p lang="fr">Contrat CIVP</p></body></html>'
)

# A fresh interpreter where the library cannot be loaded, with warnings as errors and
# warnings logged the way `aqd` logs them (engine/cli.py).
WITHOUT_SUBSET = """
import logging, sys
import cffi

real_dlopen = cffi.FFI.dlopen

def dlopen(self, name, *args, **kwargs):
    if "harfbuzz-subset" in str(name):
        raise OSError(f"cannot load {name}")
    return real_dlopen(self, name, *args, **kwargs)

cffi.FFI.dlopen = dlopen
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

from forms import pdf

for _ in range(3):
    assert pdf.html_to_pdf(sys.argv[1], base_url=".").startswith(b"%PDF")

from weasyprint.text import ffi  # imported by the renderer (a second import warns nothing)

assert ffi.harfbuzz_subset is None
"""


def test_without_harfbuzz_subset_pdfs_render_and_it_is_said_once(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", WITHOUT_SUBSET, HTML],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        "WARNING forms.pdf: libharfbuzz-subset0 is not installed: WeasyPrint subsets the PDF "
        "fonts with fontTools (slower, larger files); install it with 'scripts/system-deps.sh "
        "run' or 'apt-get install libharfbuzz-subset0'"
    ], done.stderr


def test_weasyprint_s_per_font_fallback_warning_stays_quiet(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In this process (whichever way the library is): the fontTools path renders and does
    not log once per font."""
    from weasyprint.pdf import fonts  # type: ignore[import-untyped]

    assert pdf.html_to_pdf(HTML, base_url=str(ROOT)).startswith(b"%PDF")  # loads the filter
    monkeypatch.setattr(fonts, "harfbuzz_subset", None)
    with caplog.at_level(logging.WARNING):
        assert pdf.html_to_pdf(HTML, base_url=str(ROOT)).startswith(b"%PDF")
    assert [r.getMessage() for r in caplog.records if "fontTools" in r.getMessage()] == []
