"""A PDF's pages as PNG images, so a phone can read a contract without a PDF plug-in (issue 21).

Poppler's ``pdftoppm`` (Debian's ``poppler-utils``, which ``scripts/system-deps.sh`` and the
Dockerfile install) draws each page :data:`WIDTH` pixels wide: about 121 dpi on A4, sharp on a
phone's 2x or 3x screen 360-414 CSS pixels wide. Measured on the CIVP contract (one A4 page):
155 KB and 0.3 s of CPU per page; pdf.js, the other way to show a PDF without the plug-in, costs
the phone more than 1.3 MB of scripts to fetch and run before the first page.

The images are kept in memory per document (its SHA-256 and the caller's key), the least
recently used dropped past :data:`CACHE_BYTES`; a document is drawn once however many times it
is read. The caller decides who may read which document: this module only draws.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

#: Width of a page image in pixels.
WIDTH = 1000
#: At most this many pages are drawn (a contract has one or two).
MAX_PAGES = 20
#: The images kept in memory, all documents together.
CACHE_BYTES = 32 * 1024 * 1024
#: A document that takes longer to draw is refused.
TIMEOUT_S = 30.0


class PageImagesUnavailable(RuntimeError):
    """pdftoppm is missing or failed on the document."""


@dataclass(frozen=True)
class PageImages:
    sha256: str  # of the PDF the pages were drawn from
    pages: tuple[bytes, ...]  # PNG images, first page first

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.pages)

    def dimensions(self) -> list[tuple[int, int]]:
        """Each page's (width, height) in pixels, read from its PNG header, so a page can
        reserve its place before the image arrives."""
        return [struct.unpack(">II", png[16:24]) for png in self.pages]


_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str], PageImages] = OrderedDict()
_cached_bytes = 0


def cached(key: str, sha256: str) -> PageImages | None:
    """The images drawn earlier for ``(key, sha256)``, if still in memory."""
    with _lock:
        found = _cache.get((key, sha256))
        if found is not None:
            _cache.move_to_end((key, sha256))
        return found


def page_images(pdf: bytes, key: str = "") -> PageImages:
    """The pages of ``pdf`` as PNG images, drawn once and kept under ``(key, its SHA-256)``."""
    sha256 = hashlib.sha256(pdf).hexdigest()
    found = cached(key, sha256)
    if found is not None:
        return found
    images = PageImages(sha256, draw(pdf))
    _keep((key, sha256), images)
    return images


def draw(pdf: bytes) -> tuple[bytes, ...]:
    """Every page of ``pdf`` (up to :data:`MAX_PAGES`) as a PNG :data:`WIDTH` pixels wide."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PageImagesUnavailable("pdftoppm is not installed (Debian package poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="aqd-pages-") as tmp:
        source = Path(tmp) / "document.pdf"
        source.write_bytes(pdf)
        command = [
            tool,
            "-png",
            "-scale-to-x",
            str(WIDTH),
            "-scale-to-y",
            "-1",
            "-l",
            str(MAX_PAGES),
            str(source),
            str(Path(tmp) / "page"),
        ]
        try:
            subprocess.run(  # noqa: S603 - a fixed tool on PATH, arguments we build
                command, check=True, capture_output=True, timeout=TIMEOUT_S
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise PageImagesUnavailable(f"pdftoppm could not draw the document: {exc}") from exc
        # pdftoppm pads the page number to the width of the last one: page-1.png or page-01.png
        files = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return tuple(p.read_bytes() for p in files)


def _keep(key: tuple[str, str], images: PageImages) -> None:
    global _cached_bytes  # noqa: PLW0603 - the process-wide cache's size, under its lock
    with _lock:
        if key in _cache:
            return
        _cache[key] = images
        _cached_bytes += images.size
        while _cached_bytes > CACHE_BYTES and len(_cache) > 1:
            _old, dropped = _cache.popitem(last=False)
            _cached_bytes -= dropped.size
