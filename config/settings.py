"""Runtime configuration, read once from the environment (prefix ``ORDERFLOW_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.keyring import Keyring
from domain.audit_log import MIN_RETENTION_DAYS

DATA_DIR = Path(".data")
# Public, so anyone can read what it sealed: development and tests only.
DEV_ENCRYPTION_KEY_ID = "dev-1"
DEV_ENCRYPTION_KEY = "b3JkZXJmbG93LWRldmVsb3BtZW50LWtleS0zMmJ5dGU="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERFLOW_", env_file=".env", extra="ignore")

    environment: str = Field("development", description="development | test | production")

    database_url: str = f"sqlite:///{DATA_DIR / 'orderflow.db'}"

    # Left empty, these follow the local ports below (what `orderflow dev` starts).
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_ui_url: str = ""

    stripe_api_key: str = "sk_test_orderflow"
    stripe_api_base: str = ""
    stripe_webhook_secret: str = "whsec_orderflow_dev"

    # The sandbox carrier (`orderflow dev` runs it): where labels are bought, the secret its
    # tracking webhooks are signed with, and how often it moves a parcel one stage along.
    carrier_api_base: str = ""
    carrier_webhook_secret: str = "whsec_orderflow_carrier_dev"
    carrier_advance_seconds: float = Field(3.0, gt=0)
    # A report tells what happened: one dated later than this ahead of our clock is refused.
    # Clock skew aside it can't have happened yet, and a date near year 9999 would overflow
    # the parcel's stage deadlines.
    carrier_report_max_ahead_seconds: int = Field(300, ge=0)
    # Received webhooks (`orderflow webhooks list|replay`) are kept this many days.
    webhook_log_days: int = Field(14, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    localstripe_port: int = 8420
    carrier_port: int = 8430

    # The largest request body the API reads; larger ones are answered 413 unread. Orders
    # and webhooks take a few KiB.
    max_body_bytes: int = Field(1024 * 1024, gt=0)

    currency: str = "usd"
    payment_window_seconds: int = Field(30 * 60, gt=0)
    payment_poll_after_seconds: int = Field(15 * 60, gt=0)
    # Unset: each order's window follows the region rules (docs/rules.md); set: every order
    # gets this many seconds (demos and benchmarks).
    confirmation_window_seconds: int | None = Field(None, gt=0)

    # The merchant's fulfilment rules (docs/rules.md); unset: the documented defaults.
    rules_file: Path | None = None

    # The `sla-statistics` schedule: how often it recomputes each stage's mean and σ, from
    # the newest this-many parcels finished within the window.
    sla_statistics_every_minutes: int = Field(60, gt=0)
    sla_statistics_window_days: int = Field(14, gt=0)
    sla_statistics_samples: int = Field(1000, ge=2)

    # Customer notifications: mail through this SMTP server (`orderflow dev` runs a local
    # sink there), and each one also POSTed, signed, to this URL when it is set.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "orders@orderflow.example"
    notification_webhook_url: str | None = None
    notification_webhook_secret: str = "whsec_orderflow_notifications_dev"
    # How often the `notification-outbox` schedule delivers what is still unsent.
    notification_outbox_every_minutes: int = Field(1, gt=0)

    # Bearer tokens (docs/security.md). HS256 keys by key ID: new tokens are signed with
    # `auth_key_id`; a token signed with any key still in the ring stays valid, so a key is
    # rotated by adding the new one, switching `auth_key_id`, and dropping the old one once
    # its tokens have expired.
    auth_signing_keys: dict[str, str] = {"dev-1": "orderflow-dev-signing-key-not-for-production"}
    auth_key_id: str = "dev-1"
    # Temporary accounts (`orderflow token create`) live this long unless told otherwise;
    # API clients' client-credentials tokens this long.
    token_ttl_hours: float = Field(72, gt=0)
    client_token_ttl_minutes: int = Field(60, gt=0)
    # How stale the API's list of revoked tokens may be.
    revocations_refresh_seconds: float = Field(5, ge=0)
    # Support may refund up to this much (minor units) on its own; above it, finance.
    support_refund_limit: int = Field(10_000, ge=0)
    # Intake per token: a steady rate with a burst on top; and how many units one customer
    # may hold reserved in orders not yet paid (stock hoarding).
    intake_rate_per_second: float = Field(50, gt=0)
    intake_burst: int = Field(100, gt=0)
    unpaid_units_per_customer: int = Field(50, gt=0)
    # The development stack's Temporal UI can't send a token: let it (from this machine, with
    # its own Origin) read payloads through the codec server. `orderflow dev` turns it on;
    # production refuses it.
    codec_trusts_local_ui: bool = False
    # Run workflows in Temporal's sandbox in the worker process too: off, since the workflow
    # tests and the replay tests run every workflow in it (docs/architecture.md).
    workflow_sandbox: bool = False
    # /docs, /redoc, /openapi.json and /metrics: unset, on everywhere but in production.
    expose_docs: bool | None = None
    expose_metrics: bool | None = None

    # The audit log (docs/operations.md#audit-log): rows are kept this many days, and the
    # `audit-log-purge` schedule deletes older ones every day at this hour (UTC), this many
    # per transaction.
    audit_retention_days: int = 365
    audit_purge_hour_utc: int = Field(3, ge=0, le=23)
    audit_purge_batch: int = Field(5_000, ge=1, le=100_000)
    # Exports (docs/operations.md#exports): the `nightly-export` schedule requests yesterday's
    # export at this hour (UTC) and mails its link here; unset, there is no nightly export.
    # Links start with `export_link_base` (unset: the API's own address).
    export_mail_to: str | None = None
    nightly_export_hour_utc: int = Field(1, ge=0, le=23)
    # The `stock-reconciliation` schedule compares stock with its ledger daily at this hour.
    stock_reconciliation_hour_utc: int = Field(4, ge=0, le=23)
    # The `statement-pull` schedule pulls the payment provider's statement this often.
    statement_pull_every_minutes: int = Field(60, ge=1, le=24 * 60)
    # The `payment-reconciliation` schedule pulls the statement and matches it three ways
    # (provider, orders, finance ledger) daily at this hour; movements younger than the
    # grace wait for the next run (one side may record a movement a little after the other).
    payment_reconciliation_hour_utc: int = Field(5, ge=0, le=23)
    reconciliation_grace_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    # The `reconciliation-report` schedule mails finance the last month's health report on
    # the 1st at this hour (to `reconciliation_report_to`; unset: no mail, the JSON is kept).
    reconciliation_report_hour_utc: int = Field(6, ge=0, le=23)
    reconciliation_report_to: str | None = None
    export_link_base: str | None = None

    @field_validator("audit_retention_days")
    @classmethod
    def _audit_kept_long_enough(cls, days: int) -> int:
        if days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"the audit log is kept at least {MIN_RETENTION_DAYS} days (the database "
                f"refuses to delete younger rows); got {days}"
            )
        return days

    @model_validator(mode="after")
    def _signing_key_in_ring(self) -> Settings:
        if self.auth_key_id not in self.auth_signing_keys:
            raise ValueError(f"ORDERFLOW_AUTH_KEY_ID {self.auth_key_id!r} is not a signing key")
        short = [kid for kid, key in self.auth_signing_keys.items() if len(key) < 32]
        if short:
            raise ValueError(f"signing keys shorter than 32 characters: {', '.join(short)}")
        return self

    # Personal data at rest and in workflow payloads (docs/operations.md#encryption-keys): key
    # ID → base64 of a 32-byte AES key. Every key opens what it sealed; new values are sealed
    # with `encryption_key_id`. As JSON in the environment: '{"2025-06": "..."}'.
    encryption_keys: dict[str, str] = {DEV_ENCRYPTION_KEY_ID: DEV_ENCRYPTION_KEY}
    encryption_key_id: str = DEV_ENCRYPTION_KEY_ID

    @model_validator(mode="after")
    def _local_addresses_follow_ports(self) -> Settings:
        self.temporal_address = self.temporal_address or f"127.0.0.1:{self.temporal_port}"
        self.temporal_ui_url = self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}"
        self.stripe_api_base = self.stripe_api_base or f"http://127.0.0.1:{self.localstripe_port}"
        self.carrier_api_base = self.carrier_api_base or f"http://127.0.0.1:{self.carrier_port}"
        return self

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for name in (
                "stripe_api_key",
                "stripe_webhook_secret",
                "notification_webhook_secret",
                "carrier_webhook_secret",
            ):
                if "orderflow" in getattr(self, name):
                    raise ValueError(f"ORDERFLOW_{name.upper()} must be set in production")
            if any("orderflow" in key for key in self.auth_signing_keys.values()):
                raise ValueError("ORDERFLOW_AUTH_SIGNING_KEYS must be set in production")
            if self.codec_trusts_local_ui:
                raise ValueError("ORDERFLOW_CODEC_TRUSTS_LOCAL_UI is for development only")
            if DEV_ENCRYPTION_KEY in self.encryption_keys.values():
                raise ValueError(
                    "ORDERFLOW_ENCRYPTION_KEYS must be set in production, without the "
                    "development key"
                )
        return self

    @model_validator(mode="after")
    def _keyring_usable(self) -> Settings:
        # Fail at start, naming the key, rather than at the first customer written.
        Keyring.from_encoded(self.encryption_keys, self.encryption_key_id)
        return self

    @property
    def docs_exposed(self) -> bool:
        return self.expose_docs if self.expose_docs is not None else not self.in_production

    @property
    def metrics_exposed(self) -> bool:
        return self.expose_metrics if self.expose_metrics is not None else not self.in_production

    @property
    def in_production(self) -> bool:
        return self.environment == "production"

    @property
    def public_api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def keyring_from(settings: Settings) -> Keyring:
    """The keyring the settings name: personal data and workflow payloads are sealed with it."""
    return Keyring.from_encoded(settings.encryption_keys, settings.encryption_key_id)
