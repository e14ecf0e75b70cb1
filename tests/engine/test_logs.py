"""Structured logs (engine/logs.py) and the settings-only debtor account of the bank files."""

from __future__ import annotations

import io
import json

import pytest

from engine import Settings
from engine.errors import ConfigurationError, NotFound
from engine.logs import configure, get, request_id, timed
from engine.payments.batches import DEV_IBAN, debtor_account


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_timed_writes_one_json_line_with_duration_outcome_and_request_id(
    log_lines: io.StringIO,
) -> None:
    token = request_id.set("req-42")
    try:
        with timed(get("commands"), "command", kind="task_completed") as fields:
            fields["contract"] = "CIVP-2025-000001"
    finally:
        request_id.reset(token)
    [line] = lines(log_lines)
    assert line["event"] == "command"
    assert line["logger"] == "aqd.commands"
    assert line["contract"] == "CIVP-2025-000001"
    assert line["kind"] == "task_completed"
    assert line["outcome"] == "ok"
    assert line["request_id"] == "req-42"
    assert isinstance(line["ms"], float)


def test_a_refused_command_is_logged_with_its_code_and_reraised(log_lines: io.StringIO) -> None:
    with pytest.raises(NotFound, match="no such contract"), timed(get("commands"), "command"):
        raise NotFound("no such contract")
    [line] = lines(log_lines)
    assert (line["outcome"], line["level"], line["error"]) == (
        "not_found",
        "info",
        "no such contract",
    )


def test_a_fault_is_logged_as_an_error(log_lines: io.StringIO) -> None:
    with pytest.raises(ZeroDivisionError), timed(get("payments"), "payments.batch"):
        _ = 1 / 0
    [line] = lines(log_lines)
    assert (line["outcome"], line["level"]) == ("ZeroDivisionError", "error")


def test_configure_twice_keeps_one_handler(log_lines: io.StringIO) -> None:
    configure("INFO", "json", stream=log_lines)
    get("x").info("once")
    assert len(lines(log_lines)) == 1


def test_the_debtor_account_comes_from_settings() -> None:
    settings = Settings(
        payments_debtor_iban="TN59 1000 6035 1835 9847 8831",
        payments_debtor_bic="STBKTNTT",
        payments_debtor_name="ANETI FNE",
    )
    debtor = debtor_account(settings)
    assert (debtor.iban, debtor.bic, debtor.name) == (
        "TN5910006035183598478831",
        "STBKTNTT",
        "ANETI FNE",
    )


def test_production_mode_refuses_the_development_debtor_account() -> None:
    with pytest.raises(ConfigurationError, match="AQD_PAYMENTS_DEBTOR_IBAN"):
        debtor_account(Settings(mode="production"))


def test_development_mode_says_it_uses_the_development_account(log_lines: io.StringIO) -> None:
    assert debtor_account(Settings(mode="development")).iban == DEV_IBAN
    [line] = lines(log_lines)
    assert (line["event"], line["outcome"]) == ("payments.debtor", "development_fallback")
