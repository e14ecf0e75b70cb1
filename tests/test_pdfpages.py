"""forms/pdfpages.py: a PDF's pages as PNG images for phones, drawn once per document and key."""

from __future__ import annotations

import pytest

from forms import pdfpages
from forms.pdf import html_to_pdf


@pytest.fixture(scope="module")
def two_pages() -> bytes:
    html = "<p>Contrat</p><p style='break-before: page'>عقد</p>"
    return html_to_pdf(html, ".")


def test_each_page_is_a_png_of_the_fixed_width(two_pages: bytes) -> None:
    images = pdfpages.page_images(two_pages, "test")
    assert len(images.pages) == 2
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in images.pages)
    width, height = images.dimensions()[0]
    assert width == pdfpages.WIDTH and height > width  # portrait A4
    assert 1_000 < images.size < 400_000


def test_a_document_is_drawn_once_per_key(two_pages: bytes) -> None:
    first = pdfpages.page_images(two_pages, "a")
    assert pdfpages.page_images(two_pages, "a") is first
    assert pdfpages.cached("a", first.sha256) is first
    assert pdfpages.cached("another key", first.sha256) is None


def test_a_file_that_is_not_a_pdf_is_refused() -> None:
    with pytest.raises(pdfpages.PageImagesUnavailable):
        pdfpages.draw(b"%PDF-1.7 but nothing else")
