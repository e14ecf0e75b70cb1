"""Settings, read from the environment with the ``AQD_`` prefix (and an optional ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AQD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'aqd.db'}",
        description="SQLAlchemy URL; PostgreSQL in production (postgresql+psycopg://...).",
    )
    broker_url: str = Field(
        default="memory://",
        description="Celery broker; ``memory://`` runs side effects in-process (embedded).",
    )
    clock: str = Field(
        default="system",
        description="``system`` or an ISO timestamp that starts a frozen clock (demos, tests).",
    )
    var_dir: Path = Field(default=ROOT / "var", description="Local state of the embedded default.")
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
    secure_cookies: bool = Field(
        default=False,
        description="Mark session cookies Secure (set to true behind HTTPS in production).",
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
    oidc_client_secret: str = Field(default="", description="Aqd's client secret there.")
    oidc_scopes: str = Field(default="openid profile", description="Scopes Aqd asks for.")
    signing_tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 time-stamping service URL (default: the local development TSA).",
    )
    signing_seal_p12: Path | None = Field(
        default=None,
        description="PKCS#12 file with the agency seal's key and chain (default: the dev CA).",
    )
    signing_seal_password: str = Field(default="", description="Password of the seal PKCS#12.")
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
    signing_pkcs11_pin: str = Field(default="", description="User PIN of the seal's token.")
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
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_from: str = Field(default="Aqd <no-reply@aqd.tn>", description="Sender of e-mails.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection (TLS).")
    smtp_timeout_s: float = Field(default=20.0, gt=0, description="SMTP socket timeout.")
    sms_url: str = Field(
        default="",
        description="HTTP SMS gateway (JSON POST; empty: SMS stay in the mailbox).",
    )
    sms_token: str = Field(default="", description="Bearer token for the SMS gateway.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
