"""Who the client is behind reverse proxies (``AQD_TRUSTED_PROXIES``).

``X-Forwarded-For`` is honoured only when the socket's peer is a trusted proxy: each proxy
appends the address it received the request from, so reading the list from the right and
skipping trusted proxies gives the first address no trusted party vouches for beyond — the
client. Anything to its left was written by the client and is ignored. From an untrusted peer
the header is ignored altogether: the client is the peer. Login throttling keys on this address
(``engine.access.accounts``), so a client cannot pick its own key, and behind a proxy every
client still has its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from engine.config import Network


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool | None:
    """Whether ``address`` is a trusted proxy (None: not an address at all)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return any(ip in network for network in trusted)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client's address, given the socket's ``peer``, the values of the request's
    ``X-Forwarded-For`` headers (in order) and the trusted proxies."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    nearest = peer  # the closest address known to belong to a trusted proxy or the client
    for hop in reversed(hops):
        verdict = _trusted(hop, trusted)
        if verdict is None:  # garbage where a proxy would have written an address
            return nearest
        if not verdict:
            return hop
        nearest = hop
    return nearest
