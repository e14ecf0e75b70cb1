"""A CIDES contract requested before the repeal (décret 2019-542), through its agreement steps."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import World

BEFORE_REPEAL = datetime(2018, 9, 3, 8, 0, tzinfo=UTC)


REQUEST: dict[str, object] = {
    "office": "TUN",
    "employer_mf": "1234567A",
    "beneficiary_cin": "12345678",
    "nationality": "TN",
    "diploma_level": "HIGHER_ED",
    "diploma_date": "2014-06-30",
    "residence_governorate": "KAIROUAN",
    "request_date": "2018-09-01",
    "start_date": "2018-10-01",
}


AGREEMENT: dict[str, object] = {
    "agreed": True,
    "hire_commitment": True,
    "position_title": "Technicien qualité",
    "tutor_name": "Mme Tutrice",
    "employer_complement": 150,
    "firm_governorate": "TUNIS",
}


TRAINING: dict[str, object] = {
    "training_institution": "Centre sectoriel de formation de Tunis",
    "training_hours": 400,
    "training_content": "Qualité, normes ISO 9001, métrologie (alternance 2 jours par semaine)",
    "beneficiary_agreed": True,
}


def start(world: World, request: dict[str, object] | None = None) -> int:
    world.clock.set(BEFORE_REPEAL)
    world.deploy("cides")
    return world.start_programme("cides", {**REQUEST, **(request or {})})


def agree(world: World, cid: int, verdict: str = "validate", **terms: object) -> None:
    world.complete(cid, "employer_agreement", {**AGREEMENT, **terms}, "employer")
    world.complete(cid, "training_programme", TRAINING, "employer")
    validation: dict[str, object] = {"validation_decision": verdict}
    if verdict == "return":
        validation["return_reason"] = "Programme de formation à préciser"
    world.complete(cid, "counsellor_validation", validation, "counsellor")
