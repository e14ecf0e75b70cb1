"""Real local servers standing in for the delivery borders: an SMTP server (the standard
library's ``smtpd``, in a thread) and an HTTP server that answers like an SMS gateway. Their
fixtures (``smtp``, ``sms``) are offered to every test by ``tests/conftest.py``."""

from __future__ import annotations

import email
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

with warnings.catch_warnings():  # smtpd/asyncore: deprecated, still in 3.11's standard library
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore
    import smtpd


# -- local servers (the external border) --------------------------------------------------------


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)
    answer: str | None = None  # e.g. "550 no such user": the server refuses the message

    def bodies(self) -> list[str]:
        out = []
        for _, _, msg in self.messages:
            part = msg.get_body()
            assert part is not None
            out.append(str(part.get_content()))
        return out


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A real SMTP server on 127.0.0.1 (the standard library's), in a thread."""
    own_map: dict[int, Any] = {}
    sink = SmtpSink("127.0.0.1", 0)

    class Server(smtpd.SMTPServer):
        def process_message(  # type: ignore[override]
            self, peer: Any, mailfrom: str, rcpttos: list[str], data: bytes, **kw: Any
        ) -> str | None:
            if sink.answer:
                return sink.answer
            msg = email.message_from_bytes(data, policy=default_policy)
            sink.messages.append((mailfrom, rcpttos, msg))
            return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # the remote address is only a proxy's (smtpd.PureProxy); this server relays nothing
        server = Server(("127.0.0.1", 0), ("", 0), map=own_map, decode_data=False)
    assert server.socket is not None
    sink.port = server.socket.getsockname()[1]
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            asyncore.loop(timeout=0.05, count=1, map=own_map)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield sink
    stop.set()
    thread.join(timeout=2)
    # the server and the connections it accepted (closing only the server left them to the
    # garbage collector, whose ResourceWarning failed whichever test happened to run next)
    asyncore.close_all(map=own_map)


@dataclass
class SmsGateway:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def sms() -> Iterator[SmsGateway]:
    """A real HTTP server on 127.0.0.1 that answers like an SMS gateway."""
    gateway = SmsGateway("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            gateway.received.append(json.loads(self.rfile.read(length)))
            gateway.headers.append({k.lower(): v for k, v in self.headers.items()})
            body = json.dumps({"id": f"sms-{len(gateway.received)}"}).encode()
            self.send_response(gateway.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gateway
    server.shutdown()
    server.server_close()
