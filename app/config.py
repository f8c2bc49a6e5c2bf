"""Settings, read once from the environment (prefix ``DELPHI_``) and injectable everywhere."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me-in-production"  # noqa: S105 - the value we refuse outside development


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DELPHI_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./delphi.db"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = PLACEHOLDER_SECRET
    default_language: Literal["fr", "en"] = "fr"

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = Field(default=10.0, gt=0)
    mail_from: str = "Delphi <delphi@localhost>"
    # shown to experts where no study is known (a link that is not valid): whom to write to
    contact_email: str = ""

    session_idle_minutes: int = Field(default=120, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    # None: Secure when the environment is production or the base URL is https
    cookie_secure: bool | None = None
    link_failures_per_minute: int = Field(default=10, ge=1)
    link_failures_per_minute_overall: int = Field(default=300, ge=1)
    # Failed researcher logins allowed in 15 minutes before each attempt must wait (doubling)
    login_free_failures_per_account: int = Field(default=5, ge=1)
    login_free_failures_per_client: int = Field(default=10, ge=1)
    worker_interval_seconds: float = Field(default=2.0, gt=0)
    run_sender_in_server: bool = True
    # Requests handled at once per process; more wait their turn in the event loop. Python runs
    # one thread at a time, so more threads only make each request wait longer for the CPU.
    request_threads: int = Field(default=8, ge=1, le=200)
    report_time_limit_seconds: int = Field(default=300, ge=5)
    # the coding page mixes the optional local embedding model (extra "embeddings") into its
    # suggestions for English answers when it is installed
    coding_embeddings: bool = True
    # Request bodies: forms and JSON, and file uploads (panel and protocol files of at most 2 MB)
    max_body_bytes: int = Field(default=1_000_000, ge=10_000)
    max_upload_bytes: int = Field(default=3_000_000, ge=10_000)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_absolute(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    @model_validator(mode="after")
    def _real_secret_outside_development(self) -> Settings:
        if self.environment != "development" and (self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32):
            raise ValueError("DELPHI_SECRET_KEY must be a random value of 32+ characters outside development")
        return self

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS: said so, or in production, or when the site is served over https."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment == "production" or self.base_url.startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)


class SettingsError(Exception):
    """A setting is wrong; the message is one readable line."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "DELPHI_" + "_".join(str(p) for p in first["loc"]).upper() if first["loc"] else "settings"
        raise SettingsError(f"bad setting {name}: {first['msg']}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
