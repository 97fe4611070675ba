"""Settings, read once from the environment (and an optional ``.env`` file).

Owns every knob of the service; nothing else reads ``os.environ``. Secrets are ``SecretStr`` so
that a settings object printed in a log or a traceback never shows them.
"""

from __future__ import annotations

import secrets

from pydantic import EmailStr, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Prefix of every API route. A constant, not a setting: ``OAuth2PasswordBearer`` needs the
#: token URL when the routes are declared, before any settings are read.
API_V1_STR = "/api/v1"


class Settings(BaseSettings):
    """The service's configuration. Every field can be set by an environment variable of the
    same name (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    PROJECT_NAME: str = "toolgate FastAPI PostgreSQL example"
    #: SQLAlchemy URL of the database; ``postgresql://`` is read as ``postgresql+psycopg://``.
    DATABASE_URL: str = "postgresql+psycopg://postgres@127.0.0.1:5432/app"
    #: Key signing the access tokens (HS256). The default is random per process, so tokens do
    #: not survive a restart; set it for several workers or restarts.
    SECRET_KEY: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    #: Lifetime of an access token, in seconds (FastAPI's template counts minutes; seconds let
    #: tests watch a token expire).
    ACCESS_TOKEN_EXPIRE_SECONDS: int = Field(default=60 * 60, gt=0)
    #: The superuser created at start when no user has this email.
    FIRST_SUPERUSER: EmailStr = "admin@example.com"
    FIRST_SUPERUSER_PASSWORD: SecretStr
    #: Serve ``GET /internal/request-log`` (not in the OpenAPI document): every request's
    #: method, path and status, for tests that must prove what reached the service.
    EXPOSE_REQUEST_LOG: bool = False

    @field_validator("DATABASE_URL")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.removeprefix("postgres://")
        return value

    @field_validator("FIRST_SUPERUSER_PASSWORD")
    @classmethod
    def _strong_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("FIRST_SUPERUSER_PASSWORD must have at least 8 characters")
        return value
