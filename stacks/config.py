"""Per-environment settings, read once from `cdk.json` context and checked before synth.

Every setting that differs between SOD, Stage and Production lives under the
`tenant-status:environments` context key; nothing else in the stacks reads context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tenant_status.change_types import TOPIC_KEYS

CONTEXT_KEY = "tenant-status:environments"
SUBSCRIPTION_PROTOCOLS = ("sqs", "lambda", "https", "email")
REMOVAL_POLICIES = ("retain", "destroy")
_STAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}")


class ConfigError(ValueError):
    """cdk.json describes an environment that cannot be deployed."""


@dataclass(frozen=True)
class SubscriptionConfig:
    topics: tuple[str, ...]
    protocol: str
    endpoint: str
    filter_policy: Mapping[str, Any] | None = None
    raw_message_delivery: bool = False


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    superoffice_host: str
    accepted_issuers: tuple[str, ...]
    jwks_url: str | None
    pinned_jwks: Mapping[str, Any] | None = None
    application_id: str | None = None
    account: str | None = None
    region: str | None = None
    removal_policy: str = "destroy"
    subscriptions: tuple[SubscriptionConfig, ...] = field(default_factory=tuple)

    @property
    def audience(self) -> str | None:
        """SuperOffice addresses tokens for an application as `spn:{application id}`."""
        return f"spn:{self.application_id}" if self.application_id else None

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"


def _fail(environment: str, message: str) -> ConfigError:
    return ConfigError(f"cdk.json {CONTEXT_KEY}.{environment}: {message}")


def _optional_str(raw: Mapping[str, Any], key: str, env: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(env, f"{key} must be a string")
    return value


def _subscription(raw: Any, env: str, index: int) -> SubscriptionConfig:
    where = f"subscriptions[{index}]"
    if not isinstance(raw, dict):
        raise _fail(env, f"{where} must be an object")
    topics = raw.get("topics", "all")
    if topics == "all":
        topics = list(TOPIC_KEYS)
    if not isinstance(topics, list) or not topics:
        raise _fail(env, f'{where}.topics must be "all" or a list of topic names')
    unknown = [t for t in topics if t not in TOPIC_KEYS]
    if unknown:
        raise _fail(env, f"{where}.topics names {unknown}; known: {list(TOPIC_KEYS)}")
    protocol = raw.get("protocol")
    if protocol not in SUBSCRIPTION_PROTOCOLS:
        raise _fail(env, f"{where}.protocol must be one of {list(SUBSCRIPTION_PROTOCOLS)}")
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _fail(env, f"{where}.endpoint is required")
    if protocol in ("sqs", "lambda") and not endpoint.startswith("arn:"):
        raise _fail(env, f"{where}.endpoint must be the {protocol} ARN")
    if protocol == "https" and not endpoint.startswith("https://"):
        raise _fail(env, f"{where}.endpoint must be an https:// URL")
    filter_policy = raw.get("filter_policy")
    if filter_policy is not None and not isinstance(filter_policy, dict):
        raise _fail(env, f"{where}.filter_policy must be an SNS filter policy object")
    return SubscriptionConfig(
        topics=tuple(topics),
        protocol=protocol,
        endpoint=endpoint,
        filter_policy=filter_policy,
        raw_message_delivery=bool(raw.get("raw_message_delivery", False)),
    )


def parse_environment(name: str, raw: Any) -> EnvironmentConfig:
    if not _STAGE_NAME.fullmatch(name):
        raise _fail(name, "environment names must be letters and digits, starting with a letter")
    if not isinstance(raw, dict):
        raise _fail(name, "must be an object")
    host = _optional_str(raw, "superoffice_host", name)
    if host is None:
        raise _fail(name, "superoffice_host is required (e.g. sod.superoffice.com)")
    issuers = raw.get("accepted_issuers", [f"https://{host}"])
    if (
        not isinstance(issuers, list)
        or not issuers
        or not all(isinstance(i, str) and i for i in issuers)
    ):
        raise _fail(name, "accepted_issuers must be a non-empty list of strings")
    pinned = raw.get("pinned_jwks")
    if pinned is not None and not (
        isinstance(pinned, dict) and isinstance(pinned.get("keys"), list)
    ):
        raise _fail(name, 'pinned_jwks must be a JSON Web Key Set: {"keys": [...]}')
    jwks_url = _optional_str(raw, "jwks_url", name)
    if jwks_url is None and pinned is None:
        jwks_url = f"https://{host}/login/.well-known/jwks"
    if jwks_url is not None and not jwks_url.startswith("https://"):
        raise _fail(name, "jwks_url must be an https:// URL")
    removal_policy = raw.get("removal_policy", "destroy")
    if removal_policy not in REMOVAL_POLICIES:
        raise _fail(name, f"removal_policy must be one of {list(REMOVAL_POLICIES)}")
    subscriptions = raw.get("subscriptions", [])
    if not isinstance(subscriptions, list):
        raise _fail(name, "subscriptions must be a list")
    return EnvironmentConfig(
        name=name,
        superoffice_host=host,
        accepted_issuers=tuple(issuers),
        jwks_url=jwks_url,
        pinned_jwks=pinned,
        application_id=_optional_str(raw, "application_id", name),
        account=_optional_str(raw, "account", name),
        region=_optional_str(raw, "region", name),
        removal_policy=removal_policy,
        subscriptions=tuple(_subscription(s, name, i) for i, s in enumerate(subscriptions)),
    )


def parse_environments(context: Any) -> list[EnvironmentConfig]:
    if not isinstance(context, dict) or not context:
        raise ConfigError(f"cdk.json context {CONTEXT_KEY} must name at least one environment")
    return [parse_environment(name, raw) for name, raw in context.items()]
