# size: the restricted compiler, the guarded builtins, methods and operators, the policy that
# decides what may run in-process, and the in-process and process-backed evaluators: each guard
# is read against the policy that admits an expression without a sandbox process.
"""The sandbox every BPMN/DMN expression and script runs in (DESIGN.md invariant 5).

Untrusted text from a deployed model (gateway conditions, timer expressions, DMN cells, script
tasks, message payloads) is compiled with RestrictedPython's *compiler* (not just restricted
globals, which are escaped in one line: notes/LIBRARIES.md §1.14) plus our own AST policy:

* names starting with ``_`` and dunder attributes are refused at compile time;
* ``**``, ``*``, ``+`` and ``<<`` become calls to size-checked helpers, so ``9**9**9`` or
  ``"x" * 10**10`` is refused before it allocates;
* format specs with widths and the padding string methods are refused;
* at run time a per-thread trace function enforces a wall-clock budget (``while True: pass``)
  and every produced value must stay under a size budget.

Scripts only see allow-listed pure helpers and the injected clock (``today()``/``now()``), never
modules, I/O or randomness, so a contract replays to the same state (invariant 3).
"""

from __future__ import annotations

import ast
import calendar as _calendar
import copy
import gc
import operator
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import CodeType, FrameType
from typing import Any, Literal

import orjson
from RestrictedPython.compile import compile_restricted
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.Limits import limited_range
from RestrictedPython.transformer import RestrictingNodeTransformer

from engine.errors import SandboxViolation
from engine.runtime import sandbox_process

#: Largest int (in bits), string, bytes or container length an expression may build.
MAX_INT_BITS = 4096
MAX_SEQUENCE_LEN = 100_000
#: Decimal digits of the largest int (``MAX_INT_BITS`` bits).
MAX_INT_DIGITS = 1234
#: Attribute names refused even though RestrictedPython would allow them.
DENIED_ATTRIBUTES = frozenset(
    {
        "format",
        "format_map",
        "ljust",
        "rjust",
        "center",
        "zfill",
        "expandtabs",
        "now",
        "today",
        "utcnow",
        "fromtimestamp",
        "utcfromtimestamp",
        "mro",
        "gi_frame",
        "gi_code",
        "f_globals",
        "f_locals",
        "f_back",
        "cr_frame",
        "ag_frame",
        "tb_frame",
    }
)


class _Budget:
    """Per-thread state of the running evaluation: its deadline and the clock it sees."""

    def __init__(self) -> None:
        self.local = threading.local()

    @property
    def deadline(self) -> float | None:
        return getattr(self.local, "deadline", None)


_budget = _Budget()


#: The file name sandboxed code is compiled under.
SANDBOX_FILENAME = "<aqd-sandbox>"


def _trace(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
    """Enforce the deadline in sandboxed code and this module's helpers only. The interpreter
    also runs other Python code while a script runs (a garbage collection's weakref callbacks,
    e.g. SQLAlchemy's): an exception raised there is printed and swallowed, so the script would
    go on with its limit cleared. Such frames are not traced; the script's next line raises."""
    if frame.f_code.co_filename not in _ENFORCED or frame.f_code is _GC_PAUSE:
        return None
    deadline = _budget.deadline
    if deadline is not None and time.perf_counter() > deadline:
        _budget.local.deadline = None
        raise SandboxViolation("time limit exceeded")
    return _trace


_ENFORCED = frozenset({SANDBOX_FILENAME, _trace.__code__.co_filename})


def _gc_pause(phase: str, info: dict[str, int]) -> None:
    """A garbage collection is the interpreter's time, not the script's: its pause moves the
    running evaluation's deadline (a full collection of a large heap took more than the whole
    budget on a loaded 2-core machine). Collections run in the thread that triggers them."""
    local = _budget.local
    if getattr(local, "deadline", None) is None:
        return
    now = time.perf_counter()
    if phase == "start":
        local.gc_started = now
        return
    started = getattr(local, "gc_started", None)
    if started is not None:
        local.deadline += now - started
        local.gc_started = None


_GC_PAUSE = _gc_pause.__code__
gc.callbacks.append(_gc_pause)

#: List methods that make a list longer (see ``_AqdPolicy.visit_Attribute``).
_GROWERS = frozenset({"append", "extend", "insert"})


class _AqdPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus size guards on arithmetic and format specs."""

    _GUARDED = {ast.Pow: "_aqd_pow_", ast.Mult: "_aqd_mul_", ast.Add: "_aqd_add_"}

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        if isinstance(node.op, ast.LShift):
            name = "_aqd_lshift_"
        else:
            name = self._GUARDED.get(type(node.op), "")
        if not name:
            return node
        func = ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
        call = ast.Call(func=func, args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            for part in ast.walk(spec):
                if isinstance(part, ast.FormattedValue):
                    self.error(node, "Dynamic format specifications are not allowed.")
                elif isinstance(part, ast.Constant) and isinstance(part.value, str):
                    digits = "".join(ch if ch.isdigit() else " " for ch in part.value).split()
                    if any(len(d) > 3 for d in digits):
                        self.error(node, "Format widths above 999 are not allowed.")
        return self.node_contents_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "Class definitions are not allowed.")
        return node

    # -- loops that never end (checked before RestrictedPython rewrites the tree) -----------

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Attribute):
            node.func._aqd_called = True  # type: ignore[attr-defined]
        return super().visit_Call(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr in _GROWERS and not getattr(node, "_aqd_called", False):
            # ``any(map(items.append, items))`` loops forever inside C code, where the time
            # limit cannot interrupt it: a list's growing methods may only be called.
            self.error(node, f'"{node.attr}" may only be called, not passed as a value.')
        return super().visit_Attribute(node)

    def visit_While(self, node: ast.While) -> Any:
        endless = isinstance(node.test, ast.Constant) and bool(node.test.value)
        leaves = any(isinstance(n, ast.Break | ast.Return) for n in ast.walk(node))
        if endless and not leaves:
            self.error(node, "This loop never ends (while True without break).")
        return super().visit_While(node)

    def visit_For(self, node: ast.For) -> Any:
        self._check_growing(node, [node.iter], node)
        return super().visit_For(node)

    def _comprehension(self, node: ast.AST) -> None:
        self._check_growing(node, [g.iter for g in getattr(node, "generators", [])], node)

    def visit_ListComp(self, node: ast.ListComp) -> Any:
        self._comprehension(node)
        return super().visit_ListComp(node)

    def visit_SetComp(self, node: ast.SetComp) -> Any:
        self._comprehension(node)
        return super().visit_SetComp(node)

    def visit_DictComp(self, node: ast.DictComp) -> Any:
        self._comprehension(node)
        return super().visit_DictComp(node)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> Any:
        self._comprehension(node)
        return super().visit_GeneratorExp(node)

    def _check_growing(self, node: ast.AST, iters: list[ast.expr], scope: ast.AST) -> None:
        """Refuse a loop that grows the very list it iterates over: it never ends."""
        names = {i.id for i in iters if isinstance(i, ast.Name)}
        if not names:
            return
        for inner in ast.walk(scope):
            grown = ""
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in _GROWERS
                and isinstance(inner.func.value, ast.Name)
            ):
                grown = inner.func.value.id
            elif isinstance(inner, ast.AugAssign) and isinstance(inner.target, ast.Name):
                grown = inner.target.id
            if grown in names:
                self.error(node, f'This loop grows "{grown}" while looping over it: it never ends.')
                return

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return self.node_contents_visit(node)


#: What an expression may contain and still run in the server's own process: no calls, loops,
#: comprehensions, lambdas, assignments or formatting (``%`` and f-strings), so its cost is
#: bounded by the size of its operands, which the operator guards bound in turn.
_BOUNDED_NODES = (
    ast.Expression,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Set,
    ast.IfExp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Pow,
    ast.BitAnd,
    ast.BitOr,
    ast.BitXor,
    ast.RShift,
)


#: Calls a bounded expression may make (one positional argument): ``len`` is O(1) and ``str``
#: is given a scalar in this process (anything else goes to a sandbox process).
_BOUNDED_CALLS = frozenset({"len", "str"})


def _bounded_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _BOUNDED_CALLS
        and len(node.args) == 1
        and not isinstance(node.args[0], ast.Starred)
        and not node.keywords
    )


def bounded_expression(source: str) -> bool:
    """True if ``source`` (already accepted by the policy) is an expression whose evaluation
    is bounded by construction (see ``_BOUNDED_NODES``): most gateway conditions and DMN cells
    (``amount > 1000``, ``"A"``, ``{"period": period + 1}``)."""
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    calls = [n for n in ast.walk(tree) if _bounded_call(n)]
    names = {id(n.func) for n in calls if isinstance(n, ast.Call)}
    return all(
        isinstance(node, _BOUNDED_NODES)
        or (isinstance(node, ast.Call) and _bounded_call(node))
        or id(node) in names
        for node in ast.walk(tree)
    )


def _size(value: object) -> int:
    if isinstance(value, int | float | Decimal | bool) or value is None:
        return 0
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return 0


def _check_size(value: object) -> object:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SandboxViolation("integer too large")
    if _size(value) > MAX_SEQUENCE_LEN:
        raise SandboxViolation("value too large")
    return value


def _guarded_pow(base: Any, exp: Any) -> Any:
    if isinstance(base, int) and isinstance(exp, int) and abs(base) > 1:
        if exp > MAX_INT_BITS or abs(base).bit_length() * exp > MAX_INT_BITS:
            raise SandboxViolation("power too large")
    if isinstance(exp, float | Decimal) and abs(float(exp)) > MAX_INT_BITS:
        raise SandboxViolation("power too large")
    return _check_size(operator.pow(base, exp))


def _guarded_mul(left: Any, right: Any) -> Any:
    for seq, n in ((left, right), (right, left)):
        if isinstance(n, int) and not isinstance(n, bool) and _size(seq):
            if _size(seq) * n > MAX_SEQUENCE_LEN:
                raise SandboxViolation("sequence repetition too large")
    return _check_size(operator.mul(left, right))


class NeedsProcess(Exception):
    """Raised by the in-process evaluation of a bounded expression that turns out to repeat a
    sequence: ``[s] * n == [t] * n`` compares n pairs of long strings, a loop inside one C call
    the size guards do not bound. The expression (pure) is evaluated again in a process."""


def _bounded_mul(left: Any, right: Any) -> Any:
    if isinstance(left, str | bytes | list | tuple) or isinstance(
        right, str | bytes | list | tuple
    ):
        raise NeedsProcess
    return _guarded_mul(left, right)


def _bounded_str(value: Any) -> str:
    if value is None or isinstance(value, str | int | float | Decimal | date):
        return str(value)
    raise NeedsProcess


def _guarded_add(left: Any, right: Any) -> Any:
    if _size(left) + _size(right) > MAX_SEQUENCE_LEN:
        raise SandboxViolation("value too large")
    return _check_size(operator.add(left, right))


def _guarded_lshift(left: Any, right: Any) -> Any:
    if isinstance(right, int) and right > MAX_INT_BITS:
        raise SandboxViolation("shift too large")
    return _check_size(operator.lshift(left, right))


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": _guarded_add,
    "-=": operator.sub,
    "*=": _guarded_mul,
    "/=": operator.truediv,
    "//=": operator.floordiv,
    "%=": operator.mod,
    "**=": _guarded_pow,
    "<<=": _guarded_lshift,
    ">>=": operator.rshift,
    "|=": operator.or_,
    "&=": operator.and_,
    "^=": operator.xor,
}


def _inplacevar(op: str, left: Any, right: Any) -> Any:
    fn = _INPLACE.get(op)
    if fn is None:
        raise SandboxViolation(f"operator {op} is not allowed")
    return fn(left, right)


def _guarded_sum(iterable: Any, /, start: Any = 0) -> Any:
    """``sum`` of numbers only: ``sum(lists, [])`` copies the growing list at every item, a
    quadratic loop inside one C call (2,000 lists of 1,000 took 9 s)."""
    if not isinstance(start, int | float | Decimal):
        raise SandboxViolation("sum() adds numbers only (join lists with a comprehension)")
    total: Any = start
    for item in iterable:
        if not isinstance(item, int | float | Decimal):
            raise SandboxViolation("sum() adds numbers only (join lists with a comprehension)")
        total = _check_size(total + item)
    return total


def _guarded_int(value: Any = 0, *base: Any) -> int:
    """``int`` that refuses to expand a huge Decimal or float (``int(Decimal('1e999999'))``
    builds a million-digit number in one C call: 53 s)."""
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_INT_DIGITS:
        raise SandboxViolation("integer too large")
    if isinstance(value, float) and abs(value) >= 2.0**MAX_INT_BITS:
        raise SandboxViolation("integer too large")
    return _check_size(int(value, *base))  # type: ignore[return-value]


def _getattr(obj: object, name: str, default: object = None) -> object:
    if name in DENIED_ATTRIBUTES:
        raise SandboxViolation(f"attribute {name!r} is not allowed")
    return safer_getattr(obj, name, default)  # type: ignore[no-untyped-call]


def _getiter(obj: Any) -> Iterator[Any]:
    found: Iterator[Any] = default_guarded_getiter(obj)
    return found


def _write(obj: object) -> object:
    if isinstance(obj, dict | list | set):
        return obj
    raise SandboxViolation(f"cannot modify objects of type {type(obj).__name__}")


# ---- allow-listed pure helpers ---------------------------------------------------------------


def _add_months(day: date, months: int) -> date:
    """Return ``day`` moved by ``months`` calendar months, clamped to the month's last day."""
    index = day.month - 1 + int(months)
    year, month = day.year + index // 12, index % 12 + 1
    last = _calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def _month_end(day: date) -> date:
    return date(day.year, day.month, _calendar.monthrange(day.year, day.month)[1])


def _parse_date(text: str) -> date:
    return date.fromisoformat(str(text)[:10])


def _iso(value: date | datetime) -> str:
    return value.isoformat()


def _tnd(value: object) -> str:
    """Round an amount to the millime (TND has 3 decimals) and return it as a string."""
    return str(Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


def _days_between(start: object, end: object) -> int:
    return (_parse_date(str(end)) - _parse_date(str(start))).days


_SAFE_BUILTIN_NAMES = (
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "Exception",
    "False",
    "IndexError",
    "KeyError",
    "LookupError",
    "None",
    "True",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
    "abs",
    "bool",
    "callable",
    "chr",
    "divmod",
    "float",
    "isinstance",
    "len",
    "ord",
    "repr",
    "round",
    "slice",
    "str",
)


def _base_builtins() -> dict[str, Any]:
    builtins: dict[str, Any] = {name: safe_builtins[name] for name in _SAFE_BUILTIN_NAMES}
    builtins.update(
        {
            "range": limited_range,
            "pow": _guarded_pow,
            "int": _guarded_int,
            "sum": _guarded_sum,
            "min": min,
            "max": max,
            "any": any,
            "all": all,
            "enumerate": enumerate,
            "sorted": sorted,
            "reversed": reversed,
            "zip": zip,
            "map": map,
            "filter": filter,
            "dict": dict,
            "list": list,
            "tuple": tuple,
            "set": set,
            "frozenset": frozenset,
        }
    )
    return builtins


def _isolated(context: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of the task data a script sees.

    SpiffWorkflow gives each task a *shallow* copy of its parent's data, so nested lists and
    dicts are shared with finished tasks; a script mutating one in place would silently rewrite
    the recorded data of tasks that already completed. Scripts work on copies instead, and only
    what they assign reaches their own task."""
    try:
        copied: dict[str, Any] = orjson.loads(
            orjson.dumps(dict(context), option=orjson.OPT_PASSTHROUGH_DATETIME)
        )
    except TypeError:
        return copy.deepcopy(dict(context))
    return copied


def helper_functions(clock: Callable[[], datetime]) -> dict[str, Any]:
    """Names (besides builtins) every expression may use. ``clock`` gives the injected time."""
    return {
        "Decimal": Decimal,
        "date": date,
        "timedelta": timedelta,
        "add_months": _add_months,
        "month_end": _month_end,
        "parse_date": _parse_date,
        "iso": _iso,
        "tnd": _tnd,
        "days_between": _days_between,
        "now": lambda: clock().astimezone(UTC),
        "today": lambda: clock().date(),
    }


class LocalSandbox:
    """Compiles (with a cache) and runs untrusted expressions and scripts *in this process*,
    under the policy, the size guards and the per-thread time limit. The limit is checked
    between Python lines, so it cannot stop one long C-level call (``sum`` of lists, a
    ``%`` padding of 500 MB): the server uses it only for expressions the policy proves
    bounded (``bounded_expression``); everything else runs in a sandbox process
    (``engine.runtime.sandbox_process``), whose own evaluator is this class."""

    def __init__(self, time_limit_s: float = 1.0, clock: Callable[[], datetime] | None = None):
        self.time_limit_s = time_limit_s
        if clock is None:
            from engine.runtime import context as _context  # noqa: PLC0415 (SpiffWorkflow: a sandbox process does not load it)

            clock = _context.now
        # Scripts see the clock of the command (or replayed event) they run in.
        self._clock = clock
        self._cache: dict[tuple[str, str], CodeType] = {}
        self._lock = threading.Lock()
        self.helpers = helper_functions(self._clock)
        self._globals: dict[str, Any] = {
            "__builtins__": _base_builtins(),
            "_getattr_": _getattr,
            "_getitem_": default_guarded_getitem,
            "_getiter_": _getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": _write,
            "_inplacevar_": _inplacevar,
            "_aqd_pow_": _guarded_pow,
            "_aqd_mul_": _guarded_mul,
            "_aqd_add_": _guarded_add,
            "_aqd_lshift_": _guarded_lshift,
            **self.helpers,
        }

    # -- compilation ---------------------------------------------------------------------------

    def compile(self, source: str, mode: Literal["eval", "exec"]) -> CodeType:
        """Compile ``source`` (mode ``eval`` or ``exec``); raise SandboxViolation if refused."""
        key = (mode, source)
        code = self._cache.get(key)
        if code is not None:
            return code
        if len(source) > 20_000:
            raise SandboxViolation("expression too long")
        try:
            code = compile_restricted(source, SANDBOX_FILENAME, mode, policy=_AqdPolicy)
        except SyntaxError as exc:
            errors = exc.args[0] if exc.args and isinstance(exc.args[0], tuple) else (exc.msg,)
            first = str(errors[0]) if errors else "invalid syntax"
            found = re.match(r"Line (\d+): ", first)
            line = int(found.group(1)) if found else (exc.lineno or 0)
            detail = "; ".join(re.sub(r"^Line \d+: ", "", str(e)) for e in errors)
            raise SandboxViolation(detail.replace("\n", " "), line=line) from None
        except (RecursionError, MemoryError):
            raise SandboxViolation("expression nested too deeply") from None
        except ValueError as exc:  # e.g. a NUL character in the source
            raise SandboxViolation(str(exc)) from None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = code
        return code

    def check(self, source: str, mode: Literal["eval", "exec"]) -> None:
        self.compile(source, mode)

    # -- execution -----------------------------------------------------------------------------

    def _run(self, code: CodeType, namespace: dict[str, Any]) -> Any:
        previous_trace = sys.gettrace()
        _budget.local.deadline = time.perf_counter() + self.time_limit_s
        sys.settrace(_trace)
        try:
            return eval(code, namespace)  # noqa: S307 - code was compiled by RestrictedPython
        except RecursionError:
            raise SandboxViolation("recursion too deep") from None
        except MemoryError:
            raise SandboxViolation("memory limit exceeded") from None
        finally:
            sys.settrace(previous_trace)
            _budget.local.deadline = None

    def evaluate(self, expression: str, context: Mapping[str, Any], *, copy: bool = True) -> Any:
        """Evaluate ``expression`` on a copy of ``context`` (``copy=False``: on ``context``
        itself, for a bounded expression, which cannot change it, or a context that is already
        a private copy)."""
        code = self.compile(expression, "eval")
        namespace = {**self._globals, **(_isolated(context) if copy else context)}
        return _check_size(self._run(code, namespace))

    def evaluate_bounded(self, expression: str, context: Mapping[str, Any]) -> Any:
        """Evaluate a ``bounded_expression`` on ``context`` itself; raise NeedsProcess if it
        repeats a sequence."""
        code = self.compile(expression, "eval")
        namespace = {**self._globals, "_aqd_mul_": _bounded_mul, "str": _bounded_str, **context}
        return _check_size(self._run(code, namespace))

    def execute(self, script: str, context: dict[str, Any], *, copy: bool = True) -> None:
        """Run ``script`` with ``context`` as its variables; new plain values go back to it."""
        code = self.compile(script, "exec")
        namespace = {**self._globals, **(_isolated(context) if copy else context)}
        self._run(code, namespace)
        for key, value in namespace.items():
            if key.startswith("_") or key in self._globals or callable(value):
                continue
            context[key] = _check_size(value)
        for key in [k for k in context if k not in namespace]:
            del context[key]


#: Sources a sandbox process accepted, with whether they may run in this process (the answer
#: depends on the source only: shared by every Sandbox, e.g. each replay's).
_CHECKED: dict[tuple[str, str], bool] = {}
_CHECKED_LOCK = threading.Lock()


class Sandbox:
    """What the engine evaluates untrusted expressions and scripts with (invariant 5).

    Everything is compiled and checked in a sandbox process (``engine.runtime.sandbox_process``)
    under the time and memory budget. An expression the policy proves bounded
    (``bounded_expression``: no calls, loops or formatting) then runs in this process, as fast
    as before and unable to stall it; a script and any other expression run in the sandbox
    process, which is killed and replaced when it overruns."""

    def __init__(
        self,
        time_limit_s: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        memory_limit_mb: int = 192,
    ) -> None:
        self.time_limit_s = time_limit_s
        self.memory_limit_mb = memory_limit_mb
        if clock is None:
            from engine.runtime import context as _context  # noqa: PLC0415 (SpiffWorkflow: a sandbox process does not load it)

            clock = _context.now
        self._clock = clock
        self.local = LocalSandbox(time_limit_s, clock=clock)
        self.helpers = self.local.helpers
        sandbox_process.POOL.warm()

    def _remote(self, op: str, mode: str, source: str, context: Any) -> Any:
        return sandbox_process.run(
            op,
            mode,
            source,
            context,
            now=self._clock() if op != "check" else None,
            time_limit_s=self.time_limit_s,
            memory_limit_mb=self.memory_limit_mb,
        )

    def _plan(self, source: str, mode: Literal["eval", "exec"]) -> bool:
        """Check ``source`` in a sandbox process once; True if it may run in this process."""
        key = (mode, source)
        local = _CHECKED.get(key)
        if local is not None:
            return local
        if len(source) > 20_000:
            raise SandboxViolation("expression too long")
        self._remote("check", mode, source, None)
        # Parsed here only once the sandbox process compiled it, within its budget.
        local = mode == "eval" and bounded_expression(source)
        with _CHECKED_LOCK:
            if len(_CHECKED) > 10_000:
                _CHECKED.clear()
            _CHECKED[key] = local
        return local

    def check(self, source: str, mode: Literal["eval", "exec"]) -> None:
        """Compile ``source`` as deploy-time checks do; raise SandboxViolation if refused."""
        self._plan(source, mode)

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        if self._plan(expression, "eval"):
            # bounded: it can neither change ``context`` nor run long, so no copy either
            try:
                return self.local.evaluate_bounded(expression, context)
            except NeedsProcess:
                pass
        return self._remote("eval", "eval", expression, dict(context))

    def execute(self, script: str, context: dict[str, Any]) -> None:
        """Run ``script`` with ``context`` as its variables; its variables afterwards replace
        them (new and changed values, deleted names)."""
        self._plan(script, "exec")
        after = self._remote("exec", "exec", script, dict(context))
        context.clear()
        context.update(after)
