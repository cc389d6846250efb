"""Process-wide settings: environment first, then the TOML file, then the documented defaults (README)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.core.shards import ShardPlan, parse_shard_ids
from bot.storage.pg import is_postgres_url, mask_url

DEFAULT_CONFIG_PATH = Path("config/ideabot.toml")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
LOG_FORMATS = ("text", "json")


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it and never contains secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IDEABOT_", extra="forbid", validate_default=True)

    # The settings operators set (README's table).
    token: SecretStr | None = None
    database: str = "data/ideabot.sqlite3"
    discord_api_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_embedding_model: str | None = None
    # Put before every text sent for embedding; unset: "query: " for e5 models, else nothing.
    llm_embedding_prefix: str | None = None
    llm_api_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_address: str | None = None
    smtp_url: SecretStr | None = None
    smtp_from: str | None = None
    webhook_allow_private: bool = False
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: str | None = None

    # Operational knobs (documented in config/ideabot.toml).
    llm_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_max_tokens: int = Field(default=800, gt=0, le=8000)
    digest_llm_budget_seconds: float = Field(default=45.0, gt=0, le=600)
    card_edit_interval_seconds: float = Field(default=5.0, gt=0)
    channel_edits_per_window: int = Field(default=5, ge=1)
    channel_edit_window_seconds: float = Field(default=5.0, gt=0)
    vote_batch_seconds: float = Field(default=0.05, ge=0)
    recount_active_days: int = Field(default=30, ge=1)
    notify_max_recipients: int = Field(default=200, ge=0)
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_disable_after_hours: float = Field(default=24.0, gt=0)
    sync_commands: bool = True
    uvloop: bool = True

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return upper

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        lower = value.lower()
        if lower not in LOG_FORMATS:
            raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
        return lower

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        count = info.data.get("shard_count")
        if count is None:
            if "shard_count" not in info.data:
                return value  # IDEABOT_SHARD_COUNT itself is invalid: that error is reported
            raise ValueError("needs IDEABOT_SHARD_COUNT (the total number of shards)")
        parse_shard_ids(value, count)
        return value.strip()

    @property
    def shards(self) -> ShardPlan:
        return ShardPlan.of(self.shard_count, self.shard_ids)

    @field_validator("metrics_address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if not value:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9108")
        return value

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        if self.metrics_address is None:
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("discord_api_url", "llm_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value:
            raise ValueError("must be an SQLite file path or a postgresql:// URL")
        if value.startswith("postgres") and "://" in value:
            if not is_postgres_url(value):
                raise ValueError("a PostgreSQL URL starts with postgresql://")
            try:
                urlsplit(value).port  # noqa: B018 - raises on a bad port
            except ValueError:
                raise ValueError("has an invalid port") from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = urlsplit(value.get_secret_value())
        if url.scheme not in ("smtp", "smtps") or not url.hostname:
            raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
        try:
            url.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value

    @field_validator("smtp_from")
    @classmethod
    def _smtp_from(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.data.get("smtp_url") is not None:
                raise ValueError("is required when IDEABOT_SMTP_URL is set")
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(f"is not an email address ({exc})") from None

    def secret_values(self) -> list[str]:
        """Every secret the process holds, for masking in logs."""
        values = [secret.get_secret_value() for secret in (self.token, self.llm_api_key) if secret is not None]
        if self.smtp_url is not None:
            url = self.smtp_url.get_secret_value()
            values.append(url)
            password = urlsplit(url).password
            if password:
                values += [password, unquote(password)]
        password = urlsplit(self.database).password if is_postgres_url(self.database) else None
        if password:
            values += [self.database, password, unquote(password)]
        return values

    @property
    def database_for_display(self) -> str:
        """The database setting with a PostgreSQL password masked."""
        return mask_url(self.database) if is_postgres_url(self.database) else self.database

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_path = Path(os.environ.get("IDEABOT_CONFIG", str(DEFAULT_CONFIG_PATH)))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path)
        return (init_settings, env_settings, toml)


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one line that names the setting."""
    config_path = os.environ.get("IDEABOT_CONFIG")
    if config_path and not Path(config_path).is_file():
        raise SettingsError(f"IDEABOT_CONFIG: file not found: {config_path}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        if error["type"] == "extra_forbidden":
            raise SettingsError(f"unknown setting '{name}' in the config file") from None
        # Never echo the input: it may be a token.
        raise SettingsError(f"IDEABOT_{name.upper()}: {error['msg']}") from None
