"""What an uploaded proof may be: a PDF, PNG or JPEG of at most 5 MB. Its first bytes say which
parser checks it (the declared type is not trusted; ``engine.inbox.documents.check`` then parses
contract documents). Shared by contract documents and employer proofs."""

from __future__ import annotations

MAX_BYTES = 5 * 1024 * 1024
MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff(data: bytes) -> str | None:
    """The type the first bytes claim (a claim only: a parser must confirm it)."""
    for magic, content_type in MAGIC:
        if data.startswith(magic):
            return content_type
    return None
