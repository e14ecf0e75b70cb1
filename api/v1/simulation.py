"""``POST /api/v1/definitions/{programme}/simulate``: run sample cases on a programme's draft (or
its deployed version) in memory, for programme managers; no contract is touched."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import CallerDep
from api.deps import AqdDep
from api.v1.schemas import Out, V1Router, errors
from engine.dates import check_date
from engine.definitions import simulation


class SimulationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str | None = Field(default=None, max_length=200, description="a ready task's BPMN id")
    data: dict[str, Any] = Field(default_factory=dict, description="the task form's fields")
    message: str | None = Field(default=None, max_length=200, description="a message name")
    payload: Any = Field(default=None, description="the message payload")
    wait: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$",
        description="let this much time pass (ISO 8601, e.g. P5D): due timers fire",
    )


class SimulationCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=200)
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="start-form fields (and start facts, e.g. employer_record)",
    )
    steps: list[SimulationStep] = Field(default_factory=list, max_length=simulation.MAX_STEPS)


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cases: Annotated[list[SimulationCase], Field(min_length=1, max_length=simulation.MAX_CASES)]
    drafts: bool = Field(default=True, description="use the saved drafts (else the deployed files)")
    on: date | None = Field(default=None, description="the date the cases run on (default today)")


class SimulatedDecision(Out):
    element: str = Field(description="the business rule task")
    decision: str = Field(description="the DMN decision's id")
    outputs: dict[str, Any]


class SimulatedCase(Out):
    name: str
    status: str = Field(description="completed, waiting or error")
    error: str | None = None
    path: list[str] = Field(description="element ids in the order they ran")
    thrown: list[str] = Field(default_factory=list, description="messages the process threw")
    element: str | None = Field(default=None, description="where the error happened")
    decisions: list[SimulatedDecision] = Field(default_factory=list)
    waiting_tasks: list[str] = Field(default_factory=list)
    waiting_messages: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict, description="the case's scalar data")
    ended_on: str | None = Field(default=None, description="the simulated date it stopped on")


class Simulation(Out):
    programme: str
    version: int
    drafts: list[str] = Field(description="the draft files the run used")
    on: str
    main_process: str
    cases: list[SimulatedCase]


router = V1Router(tags=["api"], responses=errors(400, 422))


@router.post(
    "/definitions/{programme}/simulate",
    response_model=Simulation,
    responses=errors(401, 403, 404, 422),
)
async def simulate_cases(
    programme: str, body: SimulationRequest, caller: CallerDep, aqd: AqdDep
) -> dict[str, Any]:
    """Run each case (start data, then scripted task completions, messages and waits) on the
    programme with its drafts: the path of element ids, the decisions' outputs, where it
    stopped. Programme managers and admins; nothing is stored."""
    day = check_date(body.on, "on") if body.on else None
    on = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) if day else None
    cases = [
        {
            "name": c.name,
            "data": c.data,
            "steps": [s.model_dump(exclude_none=True) for s in c.steps],
        }
        for c in body.cases
    ]
    return await run_in_threadpool(
        simulation.simulate, aqd, caller.principal, programme, cases, body.drafts, on
    )
