"""Settings, read from the environment with the ``AQD_`` prefix (and an optional ``.env``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQD_", env_file=".env", extra="ignore")

    mode: Literal["development", "production"] = Field(
        default="development",
        description="``production`` refuses development fallbacks (the development debtor "
        "account, ...); ``development`` allows them and says so in the logs.",
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="Structured logs: one JSON object a line (``json``) or short text lines.",
    )
    log_level: str | None = Field(
        default=None,
        description="Level of Aqd's own loggers (``aqd.*``); default: INFO for the server, "
        "worker and scheduler, WARNING for other commands.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; PostgreSQL in production (postgresql+psycopg://...); "
        "empty: the embedded SQLite database <var_dir>/aqd.db.",
    )
    broker_url: str = Field(
        default="memory://",
        description="Celery broker; ``memory://`` runs side effects in-process (embedded).",
    )
    clock: str = Field(
        default="system",
        description="``system`` or an ISO timestamp that starts a frozen clock (demos, tests).",
    )
    var_dir: Path = Field(
        default=Path("var"),
        description="Local state: the embedded SQLite database, the development PKI and TSA "
        "(pki/), the scheduler's schedule; relative to the working directory (``/app/var`` in "
        "the image, one volume shared by the API, the worker and the scheduler).",
    )
    script_time_limit_ms: int = Field(
        default=1000, ge=10, description="Wall-clock budget of one expression or script."
    )
    script_memory_limit_mb: int = Field(
        default=192,
        ge=0,
        description="Address-space budget of a sandbox process (scripts, expressions that are "
        "not provably bounded); a script past it is stopped (0: no limit).",
    )
    workflow_cache_size: int = Field(
        default=2000, ge=0, description="Hot workflows kept deserialized per process."
    )
    celery_queue: str = Field(default="aqd", description="Queue the worker consumes.")
    timer_poll_s: int = Field(default=15, ge=1, description="Seconds between due-timer polls.")
    outbox_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a claimed side effect is leased before the reaper takes it back.",
    )
    secure_cookies: bool | None = Field(
        default=None,
        description="Mark session cookies Secure; default: on in production mode, off in "
        "development mode (plain http://127.0.0.1).",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token that /metrics requires; unset: /metrics is open in "
        "development mode and off in production mode.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL users reach Aqd at (signing links in notifications).",
    )
    holidays_file: Path | None = Field(
        default=None,
        description="Public holidays for deadlines in working days (dueInWorkingDays); "
        "default: engine/data/holidays_tn.json.",
    )
    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer of the national identity provider (its discovery "
        "document is <issuer>/.well-known/openid-configuration); unset: password login only.",
    )
    oidc_client_id: str = Field(default="", description="Aqd's client id at the provider.")
    oidc_client_secret: SecretStr = Field(
        default=SecretStr(""), description="Aqd's client secret there."
    )
    oidc_scopes: str = Field(default="openid profile", description="Scopes Aqd asks for.")
    signing_tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 time-stamping service URL (default: the local development TSA).",
    )
    signing_seal_p12: Path | None = Field(
        default=None,
        description="PKCS#12 file with the agency seal's key and chain (default: the dev CA).",
    )
    signing_seal_password: SecretStr = Field(
        default=SecretStr(""), description="Password of the seal PKCS#12."
    )
    signing_trust_roots: Path | None = Field(
        default=None,
        description="PEM file of extra trusted roots (the seal's and the TSA's CA).",
    )
    signing_crls: Path | None = Field(
        default=None,
        description="PEM file of the extra CAs' CRLs (B-LTA seals embed revocation data).",
    )
    signing_pkcs11_module: Path | None = Field(
        default=None,
        description="PKCS#11 module (an HSM's .so) holding the agency seal's key and certificate.",
    )
    signing_pkcs11_token: str = Field(default="", description="Label of the seal's token.")
    signing_pkcs11_pin: SecretStr = Field(
        default=SecretStr(""), description="User PIN of the seal's token."
    )
    signing_pkcs11_label: str = Field(
        default="seal", description="Label of the seal's key and certificate on the token."
    )
    memory_limit_mb: int = Field(
        default=0,
        ge=0,
        description="Address-space cap for CLI/worker processes (0: none).",
    )
    smtp_host: str = Field(
        default="",
        description="SMTP server for e-mail notifications (empty: e-mails stay in the mailbox).",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_user: str = Field(default="", description="SMTP login (empty: no authentication).")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_from: str = Field(default="Aqd <no-reply@aqd.tn>", description="Sender of e-mails.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection (TLS).")
    smtp_timeout_s: float = Field(default=20.0, gt=0, description="SMTP socket timeout.")
    sms_url: str = Field(
        default="",
        description="HTTP SMS gateway (JSON POST; empty: SMS stay in the mailbox).",
    )
    sms_token: SecretStr = Field(
        default=SecretStr(""), description="Bearer token for the SMS gateway."
    )
    verification_max_pending: int = Field(
        default=3,
        ge=1,
        description="Batch verification runs that may wait or run at once; one more is refused "
        "(429) until one has finished.",
    )
    verification_concurrency: int = Field(
        default=1,
        ge=1,
        description="Runs the worker verifies at the same time (the embedded server: one).",
    )
    trusted_proxies: str = Field(
        default="",
        description="Reverse proxies (addresses or networks, comma-separated, e.g. "
        "``10.0.0.5,10.1.0.0/16``) whose ``X-Forwarded-For`` names the client; from any other "
        "peer the header is ignored and the client is the socket's peer. Empty: no proxy.",
    )
    max_body_kb: int = Field(
        default=4096,
        ge=16,
        description="Largest request body, except uploads (a modeller draft's 2 MB of XML, in "
        "JSON, fits); larger ones get 413 before they are read.",
    )
    max_upload_mb: int = Field(
        default=12, ge=1, description="Largest multipart body (a 10 MB document and its form)."
    )
    upload_pending_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 30,
        description="An upload to a task that is not completed with it within this many hours "
        "expires (the hourly job deletes it).",
    )
    upload_contract_files: int = Field(
        default=120, ge=1, description="Most uploaded files per contract (pending or recorded)."
    )
    upload_contract_mb: int = Field(
        default=300, ge=1, description="Most megabytes of uploaded files per contract."
    )
    request_lookups_per_hour: int = Field(
        default=20,
        ge=1,
        description="Most contract requests (job-seeker look-ups by CIN) one employer may make "
        "in an hour; every look-up counts, found or not, so the limit tells nothing either.",
    )
    upload_user_pending_files: int = Field(
        default=20, ge=1, description="Most uploads one user may have pending at once."
    )
    upload_user_pending_mb: int = Field(
        default=60, ge=1, description="Most megabytes one user may have pending at once."
    )
    payments_debtor_name: str = Field(
        default="ANETI - Fonds national de l'emploi",
        description="Name of the account the payment orders are paid from (pain.001 debtor).",
    )
    payments_debtor_iban: str = Field(
        default="",
        description="IBAN of that account; required in production mode (development mode "
        "falls back to a development account and logs it).",
    )
    payments_debtor_bic: str = Field(default="BCTNTNTT", description="BIC of that account.")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        proxy_networks(value)  # a typo fails at start-up, not silently at the first request
        return value

    @model_validator(mode="after")
    def _anchor_var_dir(self) -> Settings:
        # Resolved once, when the settings are read: a process that changes its working
        # directory later keeps the same state. Never derived from the installed code's location.
        self.var_dir = self.var_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'aqd.db'}"
        return self


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(value: str) -> tuple[Network, ...]:
    """The networks of ``AQD_TRUSTED_PROXIES`` (raises ValueError on an entry that is not an
    address or a network)."""
    return tuple(
        ipaddress.ip_network(entry.strip(), strict=False)
        for entry in value.split(",")
        if entry.strip()
    )


def cookies_secure(settings: Settings) -> bool:
    """Whether session cookies carry the Secure flag (explicit setting, else the mode's)."""
    if settings.secure_cookies is not None:
        return settings.secure_cookies
    return settings.mode == "production"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
