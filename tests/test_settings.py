"""Settings: secrets never show in a repr, a log line or an error message."""

from __future__ import annotations

import pytest

from engine.config import Settings

SECRETS = (
    "oidc_client_secret",
    "signing_seal_password",
    "signing_pkcs11_pin",
    "smtp_password",
    "sms_token",
)


@pytest.mark.parametrize("name", SECRETS)
def test_a_secret_from_the_environment_is_not_in_the_settings_repr(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AQD_{name.upper()}", "hunter2-secret")
    settings = Settings()
    assert getattr(settings, name).get_secret_value() == "hunter2-secret"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())
