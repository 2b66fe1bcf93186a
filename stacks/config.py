"""Per-environment settings, read once from `cdk.json` context and checked before synth.

Every setting that differs between SOD, Stage and Production lives under the
`tenant-status:environments` context key; nothing else in the stacks reads context.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenant_status.change_types import TOPIC_KEYS
from tenant_status.events import ENVIRONMENT_NAME
from tenant_status.state_reader import IAM_PRINCIPAL_ARN, PARTITION
from tenant_status.verification import PinnedKeys

CONTEXT_KEY = "tenant-status:environments"
CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
SUBSCRIPTION_PROTOCOLS = ("sqs", "lambda", "https", "email")
REMOVAL_POLICIES = ("retain", "destroy")
LOGGING_ROLE_CHOICES = ("create", "existing")
# How a subscriber queue is encrypted decides whether SNS can deliver to it at all.
QUEUE_ENCRYPTIONS = ("sse-sqs", "stack-key", "customer-managed-key", "none")
AWS_MANAGED_QUEUE_KEY = "aws-managed-key"
# ASCII only: \d would also take other scripts' digits, which AWS refuses at deploy.
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
_ENDPOINT_ARN = {
    protocol: re.compile(PARTITION + rf":{protocol}:[a-z0-9-]+:\d{{12}}:\S+", re.ASCII)
    for protocol in ("sqs", "lambda")
}
# The message attributes a subscription filter policy can match, and SNS's own limits.
FILTER_ATTRIBUTES = (
    "ContextIdentifier",
    "ChangeType",
    "ChangeTypeValue",
    "Environment",
    "Superseded",
)
MAX_FILTER_KEYS = 5
MAX_WAF_RATE_LIMIT = 2_000_000_000
# SuperOffice's environments all live under superoffice.com (sod., qaonline., online.).
_SUPEROFFICE_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+superoffice\.com")

# The settings each object may hold: a misspelt key would otherwise be ignored
# and its default used, e.g. no audience check for "aplication_id".
_ENVIRONMENT_KEYS = (
    "superoffice_host",
    "accepted_issuers",
    "jwks_url",
    "pinned_jwks",
    "application_id",
    "account",
    "region",
    "removal_policy",
    "subscriptions",
    "api",
    "waf",
    "receiver_reserved_concurrency",
    "publisher_reserved_concurrency",
    "alarms",
    "state_readers",
    "subscriber_accounts",
)
_API_KEYS = ("throttling_rate_limit", "throttling_burst_limit", "logging_role")
_WAF_KEYS = ("enabled", "requests_per_5_minutes_per_ip")
_ALARM_KEYS = ("unauthorized_per_5_minutes", "subscriptions")
_SUBSCRIPTION_KEYS = (
    "topics",
    "protocol",
    "endpoint",
    "filter_policy",
    "raw_message_delivery",
    "queue_encryption",
)


def stack_name(environment_name: str) -> str:
    """The CloudFormation stack of one environment, as deployed and as tools look it up."""
    return f"{environment_name}-TenantStatus"


class ConfigError(ValueError):
    """cdk.json describes an environment that cannot be deployed."""


@dataclass(frozen=True)
class SubscriptionConfig:
    topics: tuple[str, ...]
    protocol: str
    endpoint: str
    filter_policy: Mapping[str, Any] | None = None
    raw_message_delivery: bool = False
    queue_encryption: str | None = None


@dataclass(frozen=True)
class ApiConfig:
    """Stage-wide throttling, and who owns the account's API Gateway logging role."""

    throttling_rate_limit: float = 50.0
    throttling_burst_limit: int = 100
    logging_role: str = "create"


@dataclass(frozen=True)
class WafConfig:
    enabled: bool = False
    requests_per_5_minutes_per_ip: int = 1000


@dataclass(frozen=True)
class AlarmConfig:
    unauthorized_per_5_minutes: int = 25
    subscriptions: tuple[SubscriptionConfig, ...] = ()


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
    api: ApiConfig = field(default_factory=ApiConfig)
    waf: WafConfig = field(default_factory=WafConfig)
    receiver_reserved_concurrency: int | None = None
    publisher_reserved_concurrency: int | None = None
    alarms: AlarmConfig = field(default_factory=AlarmConfig)
    state_readers: tuple[str, ...] = ()
    subscriber_accounts: tuple[str, ...] = ()

    @property
    def audience(self) -> str | None:
        """SuperOffice addresses tokens for an application as `spn:{application id}`."""
        return f"spn:{self.application_id}" if self.application_id else None

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"


def _fail(environment: str, message: str) -> ConfigError:
    return ConfigError(f"cdk.json {CONTEXT_KEY}.{environment}: {message}")


def _only_known(raw: Mapping[str, Any], known: Iterable[str], env: str, where: str) -> None:
    known = tuple(known)
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f"; known: {list(known)}"
            raise _fail(env, f'{where}"{key}" is not a setting{hint}')


def _optional_str(raw: Mapping[str, Any], key: str, env: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(env, f"{key} must be a string")
    return value


def _optional_int(raw: Mapping[str, Any], key: str, env: str, *, minimum: int) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(env, f"{key} must be a whole number of at least {minimum}")
    return value


def _section(raw: Mapping[str, Any], key: str, env: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(env, f"{key} must be an object")
    return value


def _list_of(
    raw: Mapping[str, Any], key: str, env: str, pattern: re.Pattern[str], what: str
) -> tuple[str, ...]:
    values = raw.get(key) or []
    if not isinstance(values, list) or not all(
        isinstance(v, str) and pattern.fullmatch(v) for v in values
    ):
        raise _fail(env, f"{key} must be a list of {what}")
    return tuple(values)


def _api(raw: Mapping[str, Any], env: str) -> ApiConfig:
    section = _section(raw, "api", env)
    _only_known(section, _API_KEYS, env, "api.")
    defaults = ApiConfig()
    rate = section.get("throttling_rate_limit", defaults.throttling_rate_limit)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise _fail(env, "api.throttling_rate_limit must be a positive number (requests/second)")
    burst = _optional_int(section, "throttling_burst_limit", f"{env}.api", minimum=1)
    role = section.get("logging_role", defaults.logging_role)
    if role not in LOGGING_ROLE_CHOICES:
        raise _fail(
            env,
            f'api.logging_role must be one of {list(LOGGING_ROLE_CHOICES)}: "create" sets '
            'the account\'s API Gateway CloudWatch role, "existing" relies on one already set',
        )
    return ApiConfig(
        throttling_rate_limit=float(rate),
        throttling_burst_limit=defaults.throttling_burst_limit if burst is None else burst,
        logging_role=role,
    )


def _waf(raw: Mapping[str, Any], env: str) -> WafConfig:
    section = _section(raw, "waf", env)
    _only_known(section, _WAF_KEYS, env, "waf.")
    enabled = section.get("enabled", False)
    if not isinstance(enabled, bool):
        raise _fail(env, "waf.enabled must be true or false")
    # AWS WAF's rate-based rules count over five minutes, from 10 requests up.
    limit = _optional_int(section, "requests_per_5_minutes_per_ip", f"{env}.waf", minimum=10)
    if limit is not None and limit > MAX_WAF_RATE_LIMIT:
        raise _fail(env, f"waf.requests_per_5_minutes_per_ip is at most {MAX_WAF_RATE_LIMIT}")
    return WafConfig(
        enabled=enabled,
        requests_per_5_minutes_per_ip=(
            WafConfig().requests_per_5_minutes_per_ip if limit is None else limit
        ),
    )


def _alarms(raw: Mapping[str, Any], env: str) -> AlarmConfig:
    section = _section(raw, "alarms", env)
    _only_known(section, _ALARM_KEYS, env, "alarms.")
    threshold = _optional_int(section, "unauthorized_per_5_minutes", f"{env}.alarms", minimum=1)
    subscriptions = section.get("subscriptions", [])
    if not isinstance(subscriptions, list):
        raise _fail(env, "alarms.subscriptions must be a list")
    return AlarmConfig(
        unauthorized_per_5_minutes=(
            AlarmConfig().unauthorized_per_5_minutes if threshold is None else threshold
        ),
        subscriptions=tuple(
            _subscription(s, env, i, where="alarms.subscriptions", topics=("Alarms",))
            for i, s in enumerate(subscriptions)
        ),
    )


def _queue_encryption(raw: Mapping[str, Any], env: str, where: str) -> str:
    value = raw.get("queue_encryption")
    if value == AWS_MANAGED_QUEUE_KEY or (isinstance(value, str) and "alias/aws/sqs" in value):
        raise _fail(
            env,
            f"{where}: a queue encrypted with the AWS managed key (alias/aws/sqs) silently "
            "receives nothing from SNS, whose key policy cannot be changed to allow it. "
            'Encrypt the queue with SSE-SQS ("sse-sqs"), with this stack\'s key '
            '("stack-key", output MessageKeyArn) or with a customer managed key that '
            "allows sns.amazonaws.com kms:GenerateDataKey* and kms:Decrypt "
            '("customer-managed-key")',
        )
    if value not in QUEUE_ENCRYPTIONS:
        raise _fail(
            env,
            f"{where}.queue_encryption must say how the queue is encrypted, one of "
            f"{list(QUEUE_ENCRYPTIONS)}",
        )
    return str(value)


def _filter_policy(value: Any, env: str, where: str) -> dict[str, Any] | None:
    """A filter policy on the message attributes: SNS refuses some at deploy, and one on an
    attribute the messages do not have matches nothing, silently.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise _fail(env, f"{where}.filter_policy must be an SNS filter policy object")
    unknown = [name for name in value if name not in FILTER_ATTRIBUTES]
    if unknown:
        raise _fail(
            env,
            f"{where}.filter_policy names {unknown}, which no message carries; the message "
            f"attributes are {list(FILTER_ATTRIBUTES)}",
        )
    if len(value) > MAX_FILTER_KEYS:
        raise _fail(env, f"{where}.filter_policy may name at most {MAX_FILTER_KEYS} attributes")
    for name, rule in value.items():
        if not isinstance(rule, list) or not rule:
            raise _fail(env, f"{where}.filter_policy.{name} must be a non-empty list of values")
    superseded = value.get("Superseded", [])
    if any(not isinstance(v, str | dict) for v in superseded):
        raise _fail(
            env, f'{where}.filter_policy.Superseded matches the strings "true" and "false"'
        )
    change_type_value = value.get("ChangeTypeValue", [])
    if any(isinstance(v, str) for v in change_type_value):
        raise _fail(
            env,
            f'{where}.filter_policy.ChangeTypeValue is a number: match 2, not "2" (or '
            "match ChangeType, the name)",
        )
    return value


def _subscription(
    raw: Any,
    env: str,
    index: int,
    *,
    where: str = "subscriptions",
    topics: tuple[str, ...] = TOPIC_KEYS,
) -> SubscriptionConfig:
    where = f"{where}[{index}]"
    if not isinstance(raw, dict):
        raise _fail(env, f"{where} must be an object")
    _only_known(raw, _SUBSCRIPTION_KEYS, env, f"{where}.")
    chosen = raw.get("topics", "all")
    if chosen == "all":
        chosen = list(topics)
    if not isinstance(chosen, list) or not chosen:
        raise _fail(env, f'{where}.topics must be "all" or a list of topic names')
    unknown = [t for t in chosen if t not in topics]
    if unknown:
        raise _fail(env, f"{where}.topics names {unknown}; known: {list(topics)}")
    if len(set(chosen)) != len(chosen):
        raise _fail(env, f"{where}.topics names a topic more than once")
    protocol = raw.get("protocol")
    if protocol not in SUBSCRIPTION_PROTOCOLS:
        raise _fail(env, f"{where}.protocol must be one of {list(SUBSCRIPTION_PROTOCOLS)}")
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _fail(env, f"{where}.endpoint is required")
    if protocol in _ENDPOINT_ARN and not _ENDPOINT_ARN[protocol].fullmatch(endpoint):
        raise _fail(env, f"{where}.endpoint must be the {protocol} ARN")
    if protocol == "https" and not endpoint.startswith("https://"):
        raise _fail(env, f"{where}.endpoint must be an https:// URL")
    if protocol == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", endpoint):
        raise _fail(env, f"{where}.endpoint must be an email address")
    raw_delivery = raw.get("raw_message_delivery", False)
    if not isinstance(raw_delivery, bool):
        raise _fail(env, f"{where}.raw_message_delivery must be true or false")
    return SubscriptionConfig(
        topics=tuple(chosen),
        protocol=protocol,
        endpoint=endpoint,
        filter_policy=_filter_policy(raw.get("filter_policy"), env, where),
        raw_message_delivery=raw_delivery,
        queue_encryption=_queue_encryption(raw, env, where) if protocol == "sqs" else None,
    )


def _distinct(
    subscriptions: tuple[SubscriptionConfig, ...], env: str
) -> tuple[SubscriptionConfig, ...]:
    # SNS keeps one subscription per topic and endpoint; a second, with another filter
    # policy, fails the deploy.
    seen: set[tuple[str, str, str]] = set()
    for index, subscription in enumerate(subscriptions):
        for topic in subscription.topics:
            key = (topic, subscription.protocol, subscription.endpoint)
            if key in seen:
                raise _fail(
                    env,
                    f"subscriptions[{index}] subscribes {subscription.endpoint} to {topic} "
                    "again; SNS keeps one subscription per topic and endpoint",
                )
            seen.add(key)
    return subscriptions


def parse_environment(name: str, raw: Any) -> EnvironmentConfig:
    if not ENVIRONMENT_NAME.fullmatch(name):
        raise _fail(name, "environment names must be letters and digits, starting with a letter")
    if not isinstance(raw, dict):
        raise _fail(name, "must be an object")
    _only_known(raw, _ENVIRONMENT_KEYS, name, "")
    host = _optional_str(raw, "superoffice_host", name)
    if host is None:
        raise _fail(name, "superoffice_host is required (e.g. sod.superoffice.com)")
    if not _SUPEROFFICE_HOST.fullmatch(host):
        raise _fail(
            name,
            f"superoffice_host {host!r} is not a SuperOffice host: sod.superoffice.com, "
            "qaonline.superoffice.com or online.superoffice.com",
        )
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
    if pinned is not None:
        # Loaded as the function loads them, so keys it could not use fail here, not
        # at every cold start.
        try:
            PinnedKeys(pinned)
        except ValueError as exc:
            raise _fail(name, f"pinned_jwks: {exc}") from None
    jwks_url = _optional_str(raw, "jwks_url", name)
    if jwks_url is None and pinned is None:
        jwks_url = f"https://{host}/login/.well-known/jwks"
    if jwks_url is not None and not jwks_url.startswith("https://"):
        raise _fail(name, "jwks_url must be an https:// URL")
    if jwks_url is not None and not _SUPEROFFICE_HOST.fullmatch(
        urllib.parse.urlsplit(jwks_url).hostname or ""
    ):
        # Whoever serves the keys decides which tokens are genuine.
        raise _fail(
            name,
            "jwks_url must be on a superoffice.com host; to trust keys of your own (a test "
            "stage), pin them in pinned_jwks",
        )
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
        subscriptions=_distinct(
            tuple(_subscription(s, name, i) for i, s in enumerate(subscriptions)), name
        ),
        api=_api(raw, name),
        waf=_waf(raw, name),
        # AWS refuses a reservation that leaves the account fewer than 10 unreserved.
        receiver_reserved_concurrency=_optional_int(
            raw, "receiver_reserved_concurrency", name, minimum=1
        ),
        publisher_reserved_concurrency=_optional_int(
            raw, "publisher_reserved_concurrency", name, minimum=1
        ),
        alarms=_alarms(raw, name),
        state_readers=_list_of(
            raw,
            "state_readers",
            name,
            IAM_PRINCIPAL_ARN,
            "IAM role or user ARNs (arn:aws:iam::<account>:role/<name>)",
        ),
        subscriber_accounts=_list_of(
            raw, "subscriber_accounts", name, _ACCOUNT_ID, "12-digit AWS account ids"
        ),
    )


def parse_environments(context: Any) -> list[EnvironmentConfig]:
    if not isinstance(context, dict) or not context:
        raise ConfigError(f"cdk.json context {CONTEXT_KEY} must name at least one environment")
    return [parse_environment(name, raw) for name, raw in context.items()]


def environments_in(cdk_json: Path = CDK_JSON) -> Any:
    """The environments as written in cdk.json, for tools that run outside a synth."""
    try:
        document = json.loads(cdk_json.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {cdk_json}: {exc}") from None
    context = document.get("context") if isinstance(document, dict) else None
    return context.get(CONTEXT_KEY) if isinstance(context, dict) else None


def _check_environment(argv: list[str]) -> int:
    """`python -m stacks.config NAME`: exits 0 if cdk.json names that environment and it
    parses; otherwise prints one line saying why and exits 2. For the Makefile's deploys.
    """
    try:
        names = [config.name for config in parse_environments(environments_in())]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(argv) != 1 or argv[0] not in names:
        given = argv[0] if argv else ""
        print(
            f"error: ENV={given} is not an environment in cdk.json; choose one of "
            + ", ".join(names),
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_check_environment(sys.argv[1:]))
