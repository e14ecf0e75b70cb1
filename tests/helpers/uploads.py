"""Real files to upload: a one-page PDF and small PNG and JPEG images that decode."""

from __future__ import annotations

import io

from PIL import Image

from signing.pades import minimal_pdf


def pdf(title: str = "Feuille de présence") -> bytes:
    return minimal_pdf(title)


def image(fmt: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()
