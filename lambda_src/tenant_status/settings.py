"""Typed settings for the functions, read once from their environment.

The CDK stack writes these variables; the local stack and the tests build the
same objects directly. No other module reads `os.environ`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .change_types import TOPIC_KEYS


class SettingsError(ValueError):
    """The function's environment is incomplete or inconsistent."""


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _json(environ: Mapping[str, str], name: str, default: Any) -> Any:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"environment variable {name} is not valid JSON") from exc


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError as exc:
        raise SettingsError(f"environment variable {name} is not a number") from exc
    if value < 0:
        raise SettingsError(f"environment variable {name} must not be negative")
    return value


@dataclass(frozen=True)
class VerifierSettings:
    """How tokens are checked for one SuperOffice environment."""

    accepted_issuers: tuple[str, ...]
    jwks_url: str | None = None
    pinned_jwks: Mapping[str, Any] | None = None
    audience: str | None = None
    leeway_seconds: float = 60
    jwks_cache_seconds: float = 3600
    jwks_refresh_cooldown_seconds: float = 30
    jwks_timeout_seconds: float = 3

    def __post_init__(self) -> None:
        if not self.accepted_issuers:
            raise SettingsError("at least one accepted issuer is required")
        if not self.jwks_url and not self.pinned_jwks:
            raise SettingsError("either a JWKS URL or pinned keys are required")
        if self.jwks_cache_seconds <= 0:
            raise SettingsError("the JWKS cache lifetime must be positive")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> VerifierSettings:
        issuers = _json(environ, "ACCEPTED_ISSUERS", [])
        if not isinstance(issuers, list) or not all(isinstance(i, str) for i in issuers):
            raise SettingsError("ACCEPTED_ISSUERS must be a JSON list of strings")
        pinned = _json(environ, "PINNED_JWKS", None)
        if pinned is not None and not isinstance(pinned, dict):
            raise SettingsError("PINNED_JWKS must be a JSON Web Key Set object")
        return cls(
            accepted_issuers=tuple(issuers),
            jwks_url=environ.get("JWKS_URL", "").strip() or None,
            pinned_jwks=pinned,
            audience=environ.get("AUDIENCE", "").strip() or None,
            leeway_seconds=_number(environ, "CLOCK_LEEWAY_SECONDS", 60),
            jwks_cache_seconds=_number(environ, "JWKS_CACHE_SECONDS", 3600),
            jwks_refresh_cooldown_seconds=_number(environ, "JWKS_REFRESH_COOLDOWN_SECONDS", 30),
            jwks_timeout_seconds=_number(environ, "JWKS_TIMEOUT_SECONDS", 3),
        )


@dataclass(frozen=True)
class ReceiverSettings:
    """Settings of the function behind the State Change URL."""

    environment: str
    table_name: str
    verifier: VerifierSettings

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ReceiverSettings:
        return cls(
            environment=_required(environ, "ENVIRONMENT_NAME"),
            table_name=_required(environ, "TABLE_NAME"),
            verifier=VerifierSettings.from_environ(environ),
        )


@dataclass(frozen=True)
class StateReaderSettings:
    """Settings of the function behind the tenant state API."""

    environment: str
    table_name: str
    # IAM role or user ARNs that may read; the API's resource policy admits the same.
    readers: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StateReaderSettings:
        readers = _json(environ, "STATE_READERS", [])
        if not isinstance(readers, list) or not all(isinstance(r, str) for r in readers):
            raise SettingsError("STATE_READERS must be a JSON list of IAM role or user ARNs")
        return cls(
            environment=_required(environ, "ENVIRONMENT_NAME"),
            table_name=_required(environ, "TABLE_NAME"),
            readers=tuple(readers),
        )


@dataclass(frozen=True)
class PublisherSettings:
    """Settings of the function that publishes recorded notifications."""

    environment: str
    topic_arns: Mapping[str, str]
    failure_queue_url: str

    def __post_init__(self) -> None:
        missing = [key for key in TOPIC_KEYS if key not in self.topic_arns]
        if missing:
            raise SettingsError(f"no topic ARN for {', '.join(missing)}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PublisherSettings:
        topics = _json(environ, "TOPIC_ARNS", None)
        if not isinstance(topics, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in topics.items()
        ):
            raise SettingsError("TOPIC_ARNS must be a JSON object of topic key to ARN")
        return cls(
            environment=_required(environ, "ENVIRONMENT_NAME"),
            topic_arns=topics,
            failure_queue_url=_required(environ, "FAILURE_QUEUE_URL"),
        )
