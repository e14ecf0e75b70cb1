"""Simulation (issue 7): run a programme's draft, or its deployed version, on a table of sample
cases without touching a contract.

Each case is start-form data plus scripted steps (a person completing a task with form data, or
a message arriving). The programme is compiled with the same checks as ``aqd deploy`` and each
case runs in memory through the engine's own runner, sandbox and DMN engine, on an injected
clock; nothing is written to the database (the only reads are the definition, the drafts and
the programme's start facts for a case without history). The answer gives, per case, the path
(BPMN element ids in the order they ran), the outputs of every decision, where the case stopped
(tasks and messages it waits for) and the first error, with its element.

Messages the process throws (signature requests, payment orders…) are listed, not delivered: in
a real contract the outbox would act on them. The contract's main process is simulated; monthly
cycles started by message run as their own instances and are not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import select

from engine import forms_bridge
from engine.access.accounts import Principal
from engine.commands.aqd import Aqd
from engine.definitions.drafts import newest, require_editor
from engine.employers import checked_private_firm
from engine.errors import EngineError, InvalidInput
from engine.kernel.facts import start_facts
from engine.kernel.planning import resolve_parameters
from engine.models import DefinitionDraft
from engine.runtime.definitions import DMN_NAMESPACES, compile_bundle
from engine.runtime.simulation import run_case
from engine.runtime.workflow import Specs

MAX_CASES = 50
MAX_STEPS = 100
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def simulate(
    aqd: Aqd,
    principal: Principal,
    programme: str,
    cases: list[Any],
    drafts: bool = True,
    on: datetime | None = None,
) -> dict[str, Any]:
    """Run ``cases`` on the programme's newest version, with its saved drafts when ``drafts``.

    A case: ``{"name", "data": start-form fields (and start facts such as employer_record),
    "steps": [{"task": id, "data": {...}} | {"message": name, "payload": ...} |
    {"wait": "P5D"}]}``.
    """
    require_editor(principal)
    if not isinstance(cases, list) or not cases:
        raise InvalidInput("give at least one case", fields={"cases": "empty"})
    if len(cases) > MAX_CASES:
        raise InvalidInput(f"at most {MAX_CASES} cases", fields={"cases": "too many"})
    at = on or aqd.clock.now()
    with aqd.read_session() as session:
        definition = newest(session, programme)
        sources = dict(definition.sources)
        used: list[str] = []
        if drafts:
            for draft in session.scalars(
                select(DefinitionDraft).where(DefinitionDraft.programme == programme)
            ):
                sources[draft.file] = draft.xml
                used.append(draft.file)
        manifest = definition.meta.get("manifest", {})
        # The same checks as a deployment: a draft with problems is refused (422, per element).
        bundle = compile_bundle(programme, sources, aqd.sandbox)
        # What a contract of an employer without history would get (no row is read for it):
        # a checked private firm whose certificates are valid on the day, unless a case says
        # otherwise (its own employer_standing).
        facts = start_facts(
            session,
            list(manifest.get("start_facts", [])),
            programme,
            {"employer_id": None, "office_id": None, "beneficiary_id": None},
            at,
        )
        if "employer_standing" in facts:
            facts["employer_standing"] = checked_private_firm(at)
    specs = Specs(bundle.specs[bundle.main_process])
    user_tasks: dict[str, dict[str, Any]] = {}
    for info in bundle.processes.values():
        user_tasks.update(info.user_tasks)
    elements, tables = _elements(sources)
    params = resolve_parameters(bundle.parameters, at)
    start_form = str(manifest.get("start_form") or "")

    def checker(contract: dict[str, Any]) -> Any:
        """A task's form check, with the bounds the form takes from the case's parameters."""

        def check_task(bpmn_id: str, data: dict[str, Any]) -> dict[str, Any]:
            form_key = str(user_tasks.get(bpmn_id, {}).get("form_key", ""))
            if not form_key:
                return data
            return forms_bridge.validate(programme, form_key, data, contract)

        return check_task

    runs = []
    for index, case in enumerate(cases, start=1):
        name = f"#{index}"
        try:
            if not isinstance(case, dict):
                raise InvalidInput("a case is an object with data and steps")
            name = str(case.get("name") or name)[:200]
            data, steps = case.get("data", {}), case.get("steps", [])
            if not isinstance(data, dict) or not isinstance(steps, list):
                raise InvalidInput("a case's data must be an object and its steps a list")
            if len(steps) > MAX_STEPS:
                raise InvalidInput(f"at most {MAX_STEPS} steps per case")
            given = {k: data[k] for k in facts if k in data}
            form_data = {k: v for k, v in data.items() if k not in facts}
            if start_form:
                form_data = forms_bridge.validate(programme, start_form, form_data)
        except EngineError as exc:
            runs.append({"name": name, "status": "error", "error": exc.message, "path": []})
            continue
        start = {
            **form_data,
            "contract_number": f"SIMULATION-{index}",
            "params": params,
            **facts,
            **given,
        }
        run = run_case(
            aqd.runner,
            specs,
            start,
            steps,
            check_task=checker(start),
            elements=elements,
            at=at,
            seed=f"simulation:{programme}:{index}",
        )
        for decision in run["decisions"]:
            decision["decision"] = tables.get(decision.pop("table"), decision["element"])
        run["data"] = {k: v for k, v in run["data"].items() if k not in ("params", *facts)}
        runs.append({"name": name, **run})
    return {
        "programme": programme,
        "version": definition.version,
        "drafts": sorted(used),
        "on": at.date().isoformat(),
        "main_process": bundle.main_process,
        "cases": runs,
    }


def _elements(sources: dict[str, str]) -> tuple[set[str], dict[str, str]]:
    """Every element id of the BPMN files, and each DMN decision table's decision id."""
    ids: set[str] = set()
    tables: dict[str, str] = {}
    for name, text in sources.items():
        if not name.endswith((".bpmn", ".dmn")):
            continue
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
        if name.endswith(".bpmn"):
            ids.update(str(n.get("id")) for n in root.iter() if n.get("id"))
            continue
        for ns in DMN_NAMESPACES:
            for decision in root.iter(f"{{{ns}}}decision"):
                for table in decision.iter(f"{{{ns}}}decisionTable"):
                    tables[str(table.get("id"))] = str(decision.get("id"))
    return ids, tables
