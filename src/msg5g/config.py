"""Settings from `MSG5G_*` environment variables; the defaults run on one machine with no services."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MSG5G_", env_file=".env", extra="ignore")

    env: str = "dev"
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under data_dir
    queue_url: str = "sql://"  # the embedded durable queue lives in the database
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = ""  # how carriers reach our webhooks; defaults to http://host:port
    secret_key: str = "dev-insecure-secret-change-me"  # noqa: S105 - refused outside env=dev
    # Fernet keys for carrier credentials at rest, comma-separated, the first encrypts; empty:
    # one derived from secret_key.
    credentials_keys: str = ""
    run_workers: bool = True
    send_concurrency: int = Field(default=128, ge=1)
    send_batch_size: int = Field(default=200, ge=1, le=1000)
    callback_concurrency: int = Field(default=32, ge=1)
    callback_timeout_seconds: float = 5.0
    carrier_timeout_seconds: float = 10.0
    carrier_max_attempts: int = 6
    callback_max_attempts: int = 8
    visibility_timeout_seconds: float = 60.0
    # Identical content to many recipients in one carrier request where the channel takes it.
    group_sends: bool = True
    # A channel's circuit opens after this many consecutive failures and stays open this long.
    circuit_failures_to_open: int = Field(default=5, ge=1)
    circuit_open_seconds: float = Field(default=30.0, gt=0)
    # Materials: the largest file the platform takes at all (each carrier takes its own subset), how
    # long before a carrier URL expires it is uploaded again, and a template's wait for its materials.
    material_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    material_refresh_margin_seconds: float = Field(default=86400.0, gt=0)
    template_materials_poll_seconds: float = Field(default=5.0, gt=0)
    # How often a carrier's audit of an enterprise or chatbot application is asked after (§3.4 has no
    # callback for them); the interval grows with each look, up to an hour.
    application_poll_seconds: float = Field(default=30.0, gt=0)
    # Admin sign-in: repeated failures lock an account for a while; a session ends after this long idle.
    admin_lock_after_failures: int = Field(default=5, ge=1)
    admin_lock_minutes: float = Field(default=15.0, gt=0)
    admin_idle_minutes: float = Field(default=30.0, gt=0)
    # Alerts: how often every rule is evaluated; the SMTP server alert e-mails go through
    # (smtp://user:password@host:port, smtps:// for TLS, ?starttls=true to upgrade; empty: no e-mail).
    alert_eval_seconds: float = Field(default=15.0, gt=0)
    smtp_url: str = ""
    alert_mail_from: str = "msg5g alerts <alerts@msg5g.localhost>"
    # The customer-service inbox closes a conversation nobody wrote in for this long.
    inbox_idle_minutes: float = Field(default=30.0, gt=0)
    http_connection_limit: int = 256
    log_level: str = "INFO"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'msg5g.db').resolve()}"

    def resolved_public_base_url(self) -> str:
        return self.public_base_url.rstrip("/") or f"http://{self.host}:{self.port}"

    def check_production_safety(self) -> None:
        if self.env != "dev" and self.secret_key.startswith("dev-insecure"):
            raise ValueError("MSG5G_SECRET_KEY must be set outside MSG5G_ENV=dev")


@lru_cache
def get_settings() -> Settings:
    return Settings()
