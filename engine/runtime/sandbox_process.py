"""Sandbox processes: untrusted scripts run in child processes the server can kill and replace.

The in-process time limit (a line tracer) cannot interrupt one long C-level call, and a memory
cap on the server's own process would take the server down with the script. So a script, and
any expression not proven bounded (``sandbox.bounded_expression``), is sent to a child process:

* the child is a fresh interpreter that imports only the sandbox (``-I``, the ``engine``
  package stubbed, no database, no SpiffWorkflow), and runs ``LocalSandbox`` (the policy, the
  guards and the tracer, which stops Python-level loops quickly and keeps the child usable);
* before each evaluation it sets its own ``RLIMIT_AS`` (the memory budget: an allocation past
  it is a ``MemoryError``, reported as "memory limit exceeded") and ``RLIMIT_CPU`` (a backstop
  that kills a child its parent no longer watches);
* the parent waits on a pipe with a deadline (the time limit plus a grace) and, past it, kills
  the child (SIGKILL) and starts a replacement in the background: a C-level loop is stopped
  within the deadline whatever it does, and the waiting thread holds no GIL, so the server
  keeps answering;
* the request is pickled (the parent trusts itself); the reply is unpickled with an allow-list
  of classes (dates, ``Decimal``, sets...), since a child that ran untrusted code is not
  trusted, and is refused past ``MAX_REPLY_BYTES``.

Idle children are pooled (one per concurrently evaluating thread, a few kept); a forked
process (Celery's prefork pool) starts its own.
"""

from __future__ import annotations

import atexit
import builtins
import io
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import SandboxViolation

ROOT = Path(__file__).resolve().parents[2]
#: Largest reply a child may send (a script's variables, an expression's value).
MAX_REPLY_BYTES = 16 * 1024 * 1024
#: Idle children kept for the next evaluations.
MAX_IDLE = 4
#: How long a new sandbox process may take to start (not counted in the script's budget).
STARTUP_TIMEOUT_S = 60.0
_HEADER = struct.Struct("<I")

_BOOT = (
    "import sys, types\n"
    "root = sys.argv[1]\n"
    "package = types.ModuleType('engine')\n"
    "package.__path__ = [root + '/engine']\n"
    "sys.modules['engine'] = package\n"
    "sys.path.insert(0, root)\n"
    # the protocol's pipes are set aside before anything else is imported: a stray print on
    # import must not corrupt them
    "import os\n"
    "rfd, wfd = os.dup(0), os.dup(1)\n"
    "devnull = os.open(os.devnull, os.O_RDWR)\n"
    "os.dup2(devnull, 0)\n"
    "os.dup2(2, 1)\n"
    "from engine.runtime.sandbox_child import child_main\n"
    "child_main(rfd, wfd)\n"
)


# -- the reply's allow-list ----------------------------------------------------------------------

_REPLY_CLASSES = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "range"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
}


class _ReplyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _REPLY_CLASSES:
            return super().find_class(module, name)
        raise SandboxViolation(f"the script produced a value of type {name} that cannot be kept")


def _load_reply(data: bytes) -> Any:
    return _ReplyUnpickler(io.BytesIO(data)).load()


# -- parent side -------------------------------------------------------------------------------


class _Child:
    """One sandbox process and its two pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-I", "-c", _BOOT, str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C on the server's terminal is not the child's
            close_fds=True,
        )
        if self.proc.stdin is None or self.proc.stdout is None:  # pragma: no cover - PIPE
            raise RuntimeError("the sandbox process has no pipes")
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self.ready = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, request: bytes, deadline: float) -> bytes | None:
        """Send ``request`` and return the reply, or None when the deadline passed or the
        child died (the caller then discards it)."""
        started = time.monotonic()
        try:
            if not self.ready:
                # An interpreter starting on a loaded machine is not the script's time.
                if _read_exact(self.rfd, 1, time.monotonic() + STARTUP_TIMEOUT_S) != b"R":
                    return None
                self.ready = True
                deadline += time.monotonic() - started
            _write_all(self.wfd, _HEADER.pack(len(request)) + request)
            header = _read_exact(self.rfd, _HEADER.size, deadline)
            if header is None:
                return None
            (size,) = _HEADER.unpack(header)
            if size > MAX_REPLY_BYTES:
                raise SandboxViolation("the script's data is too large")
            return _read_exact(self.rfd, size, deadline)
        except (BrokenPipeError, ConnectionError):
            return None

    def kill(self) -> None:
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        self._reap()

    def close(self) -> None:
        """Ask the child to end (end of input), then make sure it has."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap()

    def _reap(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    missing = size
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while missing:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if not poller.poll(max(1, math.ceil(left * 1000))):
            continue
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None  # the child died
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


class _Pool:
    """Idle sandbox processes of this process, handed to one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._idle: list[_Child] = []
        self._pid = os.getpid()
        self._warming = False
        self.started = 0

    def _own(self) -> None:
        if self._pid != os.getpid():  # forked: those children belong to the parent process
            self._idle, self._pid, self._warming = [], os.getpid(), False

    def acquire(self) -> _Child:
        with self._ready:
            self._own()
            self._idle = [c for c in self._idle if c.proc.poll() is None]
            # A replacement already starting is nearer than a new one.
            if not self._idle and self._warming:
                self._ready.wait_for(lambda: self._idle or not self._warming, STARTUP_TIMEOUT_S)
            child = self._idle.pop() if self._idle else None
        # Keep a spare starting, so that a child killed for overrunning is replaced at once.
        self.warm()
        return child if child is not None else self._spawn()

    def _spawn(self) -> _Child:
        child = _Child()
        with self._lock:
            self.started += 1
        return child

    def release(self, child: _Child) -> None:
        with self._ready:
            self._own()
            if len(self._idle) < MAX_IDLE and child.proc.poll() is None:
                self._idle.append(child)
                self._ready.notify()
                return
        child.close()

    def discard(self, child: _Child) -> None:
        """Kill a child that overran or broke, and start a replacement in the background so
        the next evaluation does not wait for an interpreter to start."""
        child.kill()
        self.warm()

    def warm(self) -> None:
        with self._lock:
            self._own()
            if self._idle or self._warming:
                return
            self._warming = True

        def start() -> None:
            try:
                child = self._spawn()
                self.release(child)
            finally:
                with self._ready:
                    self._warming = False
                    self._ready.notify_all()

        threading.Thread(target=start, name="aqd-sandbox-spawn", daemon=True).start()

    def pids(self) -> list[int]:
        with self._lock:
            return [c.pid for c in self._idle]

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()


POOL = _Pool()
atexit.register(POOL.shutdown)

#: Threads currently waiting on a child, by child pid (tests sample their memory).
_busy: dict[int, int] = {}


def worker_pids() -> list[int]:
    """Process ids of this process's sandbox children, idle or busy."""
    return sorted(set(POOL.pids()) | set(_busy))


def run(
    op: str,
    mode: str,
    source: str,
    context: dict[str, Any] | None,
    *,
    now: datetime | None,
    time_limit_s: float,
    memory_limit_mb: int,
) -> Any:
    """Run one request in a sandbox process: ``op`` is ``check`` (compile only), ``eval``
    (returns the value) or ``exec`` (returns the script's variables afterwards)."""
    try:
        request = pickle.dumps(
            (op, mode, source, context, now, time_limit_s, memory_limit_mb),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise SandboxViolation(f"the task data cannot be passed to the sandbox: {exc}") from None
    # The child stops a Python-level loop itself at the time limit (and stays usable); the
    # grace lets its answer arrive before the parent kills it as it would a C-level loop.
    grace = min(0.1, time_limit_s / 2)
    child = POOL.acquire()
    thread = threading.get_ident()
    _busy[child.pid] = thread
    keep = False
    try:
        reply = child.call(request, time.monotonic() + time_limit_s + grace)
        if reply is None and not child.ready:  # it never started: one more, fresh
            _busy.pop(child.pid, None)
            child.kill()
            child = POOL._spawn()
            _busy[child.pid] = thread
            reply = child.call(request, time.monotonic() + time_limit_s + grace)
        if reply is None:
            ended = child.proc.poll()
            if ended is None or ended == -signal.SIGXCPU:
                raise SandboxViolation("time limit exceeded")
            raise SandboxViolation("memory limit exceeded (the sandbox process ended)")
        status, *rest = _load_reply(reply)
        keep = True
    finally:
        _busy.pop(child.pid, None)
        if keep and status != "recycle":
            POOL.release(child)
        else:
            POOL.discard(child)
    if status == "ok":
        return rest[0]
    if status in ("violation", "recycle"):
        raise SandboxViolation(str(rest[0]), line=int(rest[1]))
    name, message = str(rest[0]), str(rest[1])
    error = getattr(builtins, name, None)
    if not (isinstance(error, type) and issubclass(error, Exception)):
        error = Exception
    raise error(message)
