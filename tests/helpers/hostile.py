"""The hostile-script set and its budget probe, shared by the sandbox tests
(tests/engine/test_sandbox_hostile.py, tests/engine/test_sandbox_server.py)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

from engine.runtime import sandbox_process

BUDGET_S = 2.0
BUDGET_MB = 256.0
TEST_LIMIT_S = 0.3


@dataclass(frozen=True)
class Hostile:
    name: str
    code: str
    #: an expression (also tried as a gateway condition and a DMN cell), else a script
    expr: bool = True
    #: refused by the deploy-time checks (else accepted there and stopped when it runs)
    static: bool = False
    #: what the error says
    reason: str = ""


SORTS = "b = [str(i) for i in range(999)] * 100\ny = (" + ", ".join(["len(sorted(b))"] * 300) + ")"
GENERATOR = "def g():\n    while 1 == 1:\n        yield 1\ny = len(list(g()))"
TIME = "time limit exceeded"
MEMORY = "memory limit exceeded"
NOT_ALLOWED = "is not allowed"
#: SpiffWorkflow reports an error of Python's own (NameError...) in a gateway condition so
OR_CONDITION = "|^Error evaluating expression"
UNDERSCORE = 'starts with "_"'

PAYLOADS = [
    # the table
    Hostile("table_sum_2000", "len(sum([[0] * 1000] * 2000, []))", reason="adds numbers only"),
    Hostile("table_sum_10000", "len(sum([[0] * 1000] * 10000, []))", reason="adds numbers only"),
    Hostile("table_int_decimal", "int(Decimal('1e999999'))", reason="integer too large"),
    Hostile("table_percent_padding", "len('%500000000s' % '')", reason=MEMORY),
    # builtins, methods and operators that loop or allocate inside one call
    Hostile("percent_star_width", "len('%*s' % (500000000, ''))", reason=MEMORY),
    Hostile("percent_precision", "len('%.500000000f' % 1.0)", reason=MEMORY),
    Hostile("sorted_300_times_on_one_line", SORTS, expr=False, reason=TIME),
    Hostile(
        "max_in_nested_loops",
        "[max(range(999)) for i in range(999) for j in range(999)]",
        reason=TIME,
    ),
    Hostile(
        "compare_repeated_strings",
        "[['a' * 99999] * 99999] * 99999 == [['a' * 99999] * 99999] * 99999",
        reason=TIME,
    ),
    Hostile("str_join", "len(','.join(['x' * 99999] * 99999))", reason=MEMORY),
    Hostile("str_replace", "len(('a' * 99999).replace('a', 'b' * 99999))", reason=MEMORY),
    Hostile("fstring_width", "f'{1:>999999999}'", static=True, reason="widths above 999"),
    Hostile("fstring_dynamic_width", "f'{1:{10**9}}'", static=True, reason="Dynamic format"),
    Hostile("format_width", "'{:>999999999}'.format(1)", reason=NOT_ALLOWED),
    Hostile("str_ljust", "'x'.ljust(10**9)", reason=NOT_ALLOWED),
    Hostile("str_zfill", "'x'.zfill(10**9)", reason=NOT_ALLOWED),
    Hostile("str_expandtabs", "'\\t'.expandtabs(10**8)", reason=NOT_ALLOWED),
    Hostile("decimal_format", "len(f'{Decimal(\"1e999999999\"):f}')", reason=MEMORY),
    Hostile("decimal_power", "Decimal(9) ** 10**9", reason="Overflow" + OR_CONDITION),
    Hostile("pow", "pow(10, 10**9)", reason="power too large"),
    Hostile("power_tower", "9**9**9", reason="power too large"),
    Hostile(
        "str_of_huge_int", "str(int('9' * 4000) * int('9' * 4000))", reason="integer too large"
    ),
    Hostile("int_of_long_str", "int('9' * 99999)", reason="Exceeds the limit" + OR_CONDITION),
    Hostile("bytes", "bytes(10**9)", reason="name 'bytes' is not defined" + OR_CONDITION),
    Hostile(
        "bytearray", "bytearray(10**9)", reason="name 'bytearray' is not defined" + OR_CONDITION
    ),
    Hostile(
        "materialised_range", "list(range(10**9))", reason="only allow 1000 elements" + OR_CONDITION
    ),
    Hostile(
        "nested_comprehension",
        "len([0 for i in range(999) for j in range(999) for k in range(999)])",
        reason=f"{TIME}|{MEMORY}",
    ),
    Hostile("list_repetition", "[0] * 10**9", reason="repetition too large"),
    Hostile("str_repetition", "'a' * 10**9", reason="repetition too large"),
    Hostile("left_shift", "1 << 10**9", reason="shift too large"),
    Hostile(
        "set_of_nested_generator",
        "len(set(x for x in [0] * 99999 for y in [0] * 99999))",
        reason=TIME,
    ),
    Hostile("endless_generator", GENERATOR, expr=False, reason=f"{TIME}|{MEMORY}"),
    Hostile("recursion", "f = lambda f: f(f)\ny = f(f)", expr=False, reason="recursion too deep"),
    Hostile("while_true", "while True:\n    pass", expr=False, static=True, reason="never ends"),
    # the classic escapes
    Hostile(
        "dunder_walk", "().__class__.__base__.__subclasses__()", static=True, reason=UNDERSCORE
    ),
    Hostile("mro", "[c for c in str.mro()]", reason=NOT_ALLOWED),
    Hostile(
        "generator_frame",
        "(x for x in ()).gi_frame.f_globals",
        static=True,
        reason="restricted name",
    ),
    Hostile(
        "generator_frame_attribute",
        "(x for x in ()).gi_frame",
        static=True,
        reason="restricted name",
    ),
    Hostile("format_attribute_walk", "'{0.__class__}'.format(1)", reason=NOT_ALLOWED),
    Hostile("format_map", "'{a.__class__}'.format_map({'a': 1})", reason=NOT_ALLOWED),
    Hostile(
        "getattr_string",
        "getattr(1, '__class__')",
        reason="name 'getattr' is not defined" + OR_CONDITION,
    ),
    Hostile(
        "type_three_args", "type('X', (), {})", reason="name 'type' is not defined" + OR_CONDITION
    ),
    Hostile("dunder_import", "__import__('os').getpid()", static=True, reason=UNDERSCORE),
    Hostile(
        "import_statement", "import os\ny = os.getpid()", expr=False, reason="__import__ not found"
    ),
    Hostile(
        "open_file",
        "open('/etc/passwd').read()",
        reason="name 'open' is not defined" + OR_CONDITION,
    ),
    Hostile("eval", "eval('1 + 1')", static=True, reason="Eval calls are not allowed"),
    Hostile("globals", "globals()", reason="name 'globals' is not defined" + OR_CONDITION),
    Hostile("real_clock", "date.today()", reason=NOT_ALLOWED),
]
RUNTIME = [p for p in PAYLOADS if not p.static]
TABLE = [p for p in PAYLOADS if p.name.startswith("table_")]


def _status_kb(pid: int | str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended between the listing and the read
        return 0
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0


class Probe:
    """Samples, every 5 ms, this process's resident size and the peak resident size of each
    sandbox process; ``growth_mb`` is this process's growth plus the largest sandbox peak."""

    def __init__(self, pid: int | None = None) -> None:
        #: the process whose sandbox processes are watched (None: this one)
        self.pid = pid
        self.base_kb = _status_kb(self._me, "VmRSS")
        self.own_kb = self.base_kb
        self.child_kb = 0
        self.busy: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def _me(self) -> int | str:
        return self.pid if self.pid is not None else "self"

    def _children(self) -> list[int]:
        if self.pid is None:
            return sandbox_process.worker_pids()
        found = []
        for tasks in Path(f"/proc/{self.pid}/task").glob("*/children"):
            try:
                found += [int(pid) for pid in tasks.read_text().split()]
            except OSError:
                continue
        return found

    def _sample(self) -> None:
        while True:
            self.own_kb = max(self.own_kb, _status_kb(self._me, "VmRSS"))
            self.busy |= set(sandbox_process._busy)
            for pid in self._children():
                self.child_kb = max(self.child_kb, _status_kb(pid, "VmHWM"))
            if self._stop.wait(0.005):
                return

    def __enter__(self) -> Probe:
        for pid in self._children():  # each process's peak starts from now
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass
        self.started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.seconds = time.perf_counter() - self.started
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.own_kb - self.base_kb + self.child_kb) / 1024

    def within_budget(self) -> None:
        assert self.seconds < BUDGET_S, f"took {self.seconds:.2f} s"
        assert self.growth_mb < BUDGET_MB, f"grew {self.growth_mb:.0f} MB"


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="hostile" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hostile_script"/>
    <bpmn:scriptTask id="hostile_script"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="hostile_script" targetRef="hostile_rule"/>
    <bpmn:businessRuleTask id="hostile_rule"><bpmn:extensionElements>
      <spiffworkflow:calledDecisionId>decide</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f3" sourceRef="hostile_rule" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="f5"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>hostile_condition</bpmn:outgoing><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="hostile_condition" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f5" sourceRef="gw" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>hostile_condition</bpmn:incoming>
      <bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dd" name="d" namespace="t">
  <decision id="decide" name="decide"><decisionTable id="table">
    <input id="i1">
      <inputExpression id="ie1" typeRef="integer"><text>x</text></inputExpression></input>
    <output id="o1" name="y" typeRef="string"/>
    <rule id="hostile_cell"><inputEntry id="hostile_cell_in"><text>{cell}</text></inputEntry>
      <outputEntry id="hostile_cell_out"><text>"ok"</text></outputEntry></rule>
  </decisionTable></decision>
</definitions>
"""

#: where a payload goes, and the element an error must name
PLACES = {"script": "hostile_script", "condition": "hostile_condition", "cell": "hostile_rule"}


def _sources(payload: Hostile, place: str) -> dict[str, str]:
    script, condition, cell = "x = 1", "True", "1"
    if place == "script":
        script = f"x = 1\ny = {payload.code}" if payload.expr else f"x = 1\n{payload.code}"
    elif place == "condition":
        condition = payload.code
    else:
        cell = payload.code
    return {
        "hostile.bpmn": BPMN.format(script=escape(script), condition=escape(condition)),
        "decide.dmn": DMN.format(cell=escape(cell)),
    }


def _places(payload: Hostile) -> list[str]:
    return list(PLACES) if payload.expr else ["script"]
