"""Month and date parameters are bounded (issue 18: ``?month=9999-12`` on the analytics report
and lead times answered 500): out of 1900-2100, or not a date, is a 422 naming the field, in the
API's error shape or as the page in the user's language."""

from __future__ import annotations

from datetime import date

import pytest

from engine import InvalidInput
from engine.dates import NOT_A_MONTH, parse_date, parse_month
from tests.web.conftest import Web

OUT_OF_RANGE = "the date must be between 1900-01-01 and 2100-12-31"


def test_months_and_dates_within_the_years_forms_accept() -> None:
    assert parse_month("1900-01") == (date(1900, 1, 1), date(1900, 1, 31))
    assert parse_month("2100-12") == (date(2100, 12, 1), date(2100, 12, 31))
    assert parse_month("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    for month in ("9999-12", "1899-12", "2101-01", "0000-01", "2025-13", "2025-1", "", "abcd-ef"):
        with pytest.raises(InvalidInput) as refused:
            parse_month(month)
        assert refused.value.fields == {"month": NOT_A_MONTH}
    assert parse_date("", "day") is None
    assert parse_date("2100-12-31", "day") == date(2100, 12, 31)
    for value, message in (
        ("9999-12-31", OUT_OF_RANGE),
        ("0001-01-01", OUT_OF_RANGE),
        ("2026-02-30", "not a valid date (YYYY-MM-DD)"),
        ("20260101", "not a valid date (YYYY-MM-DD)"),
    ):
        with pytest.raises(InvalidInput) as refused:
            parse_date(value, "day")
        assert refused.value.fields == {"day": message}


def test_api_months_and_dates_out_of_range_are_422_naming_the_field(web: Web) -> None:
    c = web.client()
    manager = web.token("manager")
    lead = c.get("/api/v1/analytics/lead-times", params={"month": "9999-12"}, headers=manager)
    assert lead.status_code == 422, lead.text
    body = lead.json()
    assert body["error"] == "invalid_input" and body["fields"] == {"month": NOT_A_MONTH}
    assert body["request_id"] == lead.headers["x-request-id"]
    ok = c.get("/api/v1/analytics/lead-times", params={"month": "2025-02"}, headers=manager)
    assert ok.status_code == 200
    head = web.token("head.tun")
    tasks = c.get("/api/v1/tasks", params={"due_before": "2101-01-01"}, headers=head)
    assert tasks.status_code == 422 and tasks.json()["fields"] == {"due_before": OUT_OF_RANGE}
    auditor = web.token("auditor")
    for field in ("since", "until"):
        run = c.post("/api/v1/verifications", headers=auditor, json={field: "9999-12-31"})
        assert run.status_code == 422 and run.json()["fields"] == {field: OUT_OF_RANGE}
    simulated = c.post(
        "/api/v1/definitions/civp/simulate",
        headers=manager,
        json={"cases": [{"name": "far"}], "on": "9999-12-31"},
    )
    assert simulated.status_code == 422 and simulated.json()["fields"] == {"on": OUT_OF_RANGE}


def test_page_months_and_dates_out_of_range_are_the_error_page(web: Web) -> None:
    manager, _ = web.login("manager")
    report = manager.get("/analytics/report.pdf", params={"month": "9999-12"})
    assert report.status_code == 422
    assert report.headers["content-type"].startswith("text/html")
    assert "pas un mois entre 1900-01 et 2100-12 (AAAA-MM)" in report.text
    head, _ = web.login("head.tun")
    for value in ("9999-12-31", "not-a-date"):
        inbox = head.get("/inbox", params={"due_before": value})
        assert inbox.status_code == 422 and "due_before" in inbox.text
    assert head.get("/inbox", params={"due_before": "2025-04-01"}).status_code == 200
