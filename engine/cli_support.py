"""What every ``aqd`` command shares: the engine it runs on, and the one-line refusal.

The engine comes from the composition root of the entry point the command was started from:
``aqd`` (``api.cli``) runs with ``api.bootstrap`` (every plug-in, signing included),
``python -m engine.cli`` with ``engine.bootstrap`` (the engine's own plug-ins). The entry point
runs the command line with its root (:func:`run`), which every command's :func:`open_engine`
builds with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import OperationalError, ProgrammingError
from typer.core import TyperGroup

from engine import bootstrap
from engine.commands.aqd import Aqd
from engine.config import get_settings
from engine.errors import DefinitionInvalid, EngineError
from engine.plugins import EngineRoot

T = TypeVar("T")


#: The composition root of the running command line (set by :func:`run` for its duration).
_ROOT: ContextVar[EngineRoot | None] = ContextVar("aqd_cli_root", default=None)


class GuardedGroup(TyperGroup):
    """The top command group: whatever a command did not refuse itself (a database that is
    unavailable or not migrated, an engine error) ends it with :func:`guard`'s one line instead
    of a traceback. Every sub-command runs inside this group's ``invoke``."""

    def invoke(self, ctx: Any) -> Any:
        return guard(lambda: super(GuardedGroup, self).invoke(ctx))


@contextmanager
def using_root(build: EngineRoot) -> Iterator[None]:
    """Within the block, commands build their engines with ``build``."""
    token = _ROOT.set(build)
    try:
        yield
    finally:
        _ROOT.reset(token)


def run(app: typer.Typer, build: EngineRoot) -> None:
    """Run the command line ``app`` with ``build`` as the composition root of its engines."""
    with using_root(build):
        app()


class Refused(Exception):
    """Input the CLI refuses before it reaches the engine."""


def engine_root() -> EngineRoot:
    """The composition root of the running command's entry point (``engine.bootstrap``'s when
    the command line was started without :func:`run`)."""
    return _ROOT.get() or bootstrap.build


def open_engine() -> Aqd:
    """The engine of the running command, built by its entry point's composition root."""
    return engine_root()(get_settings())


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; a refusal (engine error, bad input, a database not migrated) ends the command
    with one line on stderr and exit status 1 instead of a traceback."""
    try:
        return fn()
    except DefinitionInvalid as exc:
        for problem in exc.problems[1:]:
            typer.echo(f"error: {problem}", err=True)
        fail(str(exc.problems[0]))
    except EngineError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in list(exc.fields.items())[:5])
        fail(f"{exc.message}" + (f" ({detail})" if detail and exc.code == "invalid_input" else ""))
    except Refused as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"database unavailable or not migrated (run 'aqd db upgrade'): {exc.orig}")
    except ProgrammingError as exc:
        # PostgreSQL: a table or column of a migration this database has not run yet
        if getattr(exc.orig, "sqlstate", None) not in ("42P01", "42703"):
            raise
        first_line = str(exc.orig).splitlines()[0]
        fail(f"database not migrated (run 'aqd db upgrade'): {first_line}")


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))
