"""The child side of a sandbox process (``engine.runtime.sandbox_process`` is the parent's):
a loop that evaluates what the parent sends with :class:`LocalSandbox` under the operating
system's limits (``RLIMIT_AS``, ``RLIMIT_CPU``) and answers with a pickled reply."""

from __future__ import annotations

import builtins
import os
import pickle
import resource
from datetime import datetime
from typing import Any

from engine.errors import SandboxViolation
from engine.runtime.sandbox import LocalSandbox
from engine.runtime.sandbox_process import _HEADER, _write_all


def child_main(rfd: int, wfd: int) -> None:
    """The loop of a sandbox process: read a request from ``rfd``, answer on ``wfd`` (the
    process's stdin and stdout, set aside by the boot code before any import)."""
    # No PR_SET_PDEATHSIG: it fires when the *thread* that started the child ends (a spare is
    # started by a short-lived thread). A child ends at the end of its input, i.e. when the
    # parent closes it or dies; one busy in C until then is ended by its RLIMIT_CPU.

    _write_all(wfd, b"R")  # ready
    sandboxes: dict[float, LocalSandbox] = {}
    clock: list[datetime | None] = [None]

    def now() -> datetime:
        value = clock[0]
        return value if value is not None else datetime.now().astimezone()

    applied_mb = -1
    while True:
        header = _read_blocking(rfd, _HEADER.size)
        if header is None:
            return
        (size,) = _HEADER.unpack(header)
        data = _read_blocking(rfd, size)
        if data is None:
            return
        op, mode, source, context, clock[0], limit_s, memory_mb = pickle.loads(data)  # noqa: S301 - from our parent
        if memory_mb != applied_mb:
            _limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024 if memory_mb else -1)
            applied_mb = memory_mb
        used = resource.getrusage(resource.RUSAGE_SELF)
        _limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + limit_s) + 2)
        sandbox = sandboxes.get(limit_s)
        if sandbox is None:
            sandbox = sandboxes[limit_s] = LocalSandbox(limit_s, clock=now)
        reply: tuple[Any, ...]
        try:
            if op == "check":
                sandbox.check(source, mode)
                reply = ("ok", None)
            elif op == "eval":
                reply = ("ok", sandbox.evaluate(source, context, copy=False))
            else:
                sandbox.execute(source, context, copy=False)
                reply = ("ok", context)
        except SandboxViolation as exc:
            recycle = exc.message == "memory limit exceeded"
            reply = ("recycle" if recycle else "violation", exc.message, exc.line)
        except MemoryError:
            reply = ("recycle", "memory limit exceeded", 0)
        except RecursionError:
            reply = ("violation", "recursion too deep", 0)
        except Exception as exc:  # the script's own error, as a builtin class the parent has
            base = next(c for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c)
            message = str(exc) if base is type(exc) else f"{type(exc).__name__}: {exc}"
            reply = ("error", base.__name__, message[:1000])
        try:
            out = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            out = pickle.dumps(("recycle", "memory limit exceeded", 0))
        except Exception as exc:  # a generator, a module... assigned to a variable
            message = f"the script produced a value that cannot be kept: {exc}"
            out = pickle.dumps(("violation", message[:1000], 0))
        _write_all(wfd, _HEADER.pack(len(out)) + out)


def _limit(which: int, soft: int) -> None:
    _, hard = resource.getrlimit(which)
    if soft < 0 or (hard != resource.RLIM_INFINITY and soft > hard):
        soft = hard
    resource.setrlimit(which, (soft, hard))


def _read_blocking(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
