"""cdk.json environments: defaults, subscriptions, and clear errors for what cannot deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.config import CONTEXT_KEY, ConfigError, parse_environment, parse_environments
from stacks.tenant_status_stack import TenantStatusStack
from tools.superoffice_standin import SigningKey

MINIMAL = {"superoffice_host": "sod.superoffice.com"}
TEST_JWK = SigningKey.generate(kid="test-1").public_jwk()


def _subscribed(**subscription: Any) -> dict[str, Any]:
    return {
        **MINIMAL,
        "subscriptions": [{"protocol": "email", "endpoint": "ops@example.com", **subscription}],
    }


QUEUE = "arn:aws:sqs:eu-west-1:111111111111:tenant-offboarding"


def test_issuer_and_jwks_url_default_from_the_host() -> None:
    config = parse_environment("SOD", MINIMAL)

    assert config.accepted_issuers == ("https://sod.superoffice.com",)
    assert config.jwks_url == "https://sod.superoffice.com/login/.well-known/jwks"
    assert config.audience is None
    assert not config.retain_data


def test_the_application_id_becomes_the_audience() -> None:
    config = parse_environment("SOD", {**MINIMAL, "application_id": "abc123"})

    assert config.audience == "spn:abc123"


def test_pinned_keys_alone_need_no_jwks_url() -> None:
    config = parse_environment("SOD", {**MINIMAL, "pinned_jwks": {"keys": [TEST_JWK]}})

    assert config.jwks_url is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "superoffice_host is required"),
        ({"superoffice_host": "sod.superofice.com"}, "is not a SuperOffice host"),
        ({"superoffice_host": "https://sod.superoffice.com"}, "is not a SuperOffice host"),
        # A misspelt setting would silently leave its default in place.
        ({**MINIMAL, "aplication_id": "abc"}, '"aplication_id" is not a setting; did you mean '),
        ({**MINIMAL, "waf": {"enable": True}}, 'waf."enable" is not a setting; did you mean'),
        ({**MINIMAL, "api": {"rate": 5}}, 'api."rate" is not a setting; known: '),
        ({**MINIMAL, "alarms": {"subscription": []}}, 'alarms."subscription" is not a setting'),
        (
            {**MINIMAL, "subscriptions": [{"protocol": "email", "endpoint": "a@b", "topic": []}]},
            'subscriptions[0]."topic" is not a setting; did you mean "topics"?',
        ),
        # Values that would deploy a weaker stack, or not deploy at all.
        (
            {**MINIMAL, "jwks_url": "https://keys.example.com/jwks"},
            "jwks_url must be on a superoffice.com host",
        ),
        (_subscribed(raw_message_delivery="false"), "raw_message_delivery must be true or false"),
        (_subscribed(topics=["Suspend", "Suspend"]), "names a topic more than once"),
        (
            {
                **MINIMAL,
                "subscriptions": [
                    {"topics": ["Suspend"], "protocol": "email", "endpoint": "ops@example.com"},
                    {"protocol": "email", "endpoint": "ops@example.com"},
                ],
            },
            "subscriptions[1] subscribes ops@example.com to Suspend again",
        ),
        (_subscribed(endpoint="nobody"), "must be an email address"),
        (
            _subscribed(protocol="sqs", endpoint="arn:aws:lambda:eu-west-1:111111111111:f:x"),
            "must be the sqs ARN",
        ),
        (_subscribed(filter_policy={"Tenant": ["Cust1"]}), "names ['Tenant'], which no message"),
        (_subscribed(filter_policy={"ContextIdentifier": "Cust1"}), "must be a non-empty list"),
        (_subscribed(filter_policy={"ChangeTypeValue": ["2"]}), "ChangeTypeValue is a number"),
        (_subscribed(filter_policy={"Superseded": [False]}), 'the strings "true" and "false"'),
        ({**MINIMAL, "waf": {"requests_per_5_minutes_per_ip": 10**12}}, "at most 2000000000"),
        (
            {**MINIMAL, "subscriber_accounts": ["\u0661" * 12]},
            "subscriber_accounts",
        ),  # Arabic-Indic
        ({**MINIMAL, "state_readers": ["arn:awsfoo:iam::111111111111:role/r"]}, "state_readers"),
        # Keys the function could not load would fail every cold start.
        ({**MINIMAL, "pinned_jwks": {"keys": []}}, "pinned_jwks: the pinned keys"),
        ({**MINIMAL, "pinned_jwks": {"keys": [{"kty": "RSA"}]}}, "pinned_jwks: the pinned keys"),
        ({**MINIMAL, "pinned_jwks": {"keys": [{**TEST_JWK, "alg": "none"}]}}, "pinned_jwks: "),
        ({**MINIMAL, "accepted_issuers": []}, "accepted_issuers"),
        ({**MINIMAL, "jwks_url": "http://sod.superoffice.com/jwks"}, "https://"),
        ({**MINIMAL, "pinned_jwks": [1]}, "pinned_jwks"),
        ({**MINIMAL, "removal_policy": "snapshot"}, "removal_policy"),
        ({**MINIMAL, "subscriptions": [{"protocol": "sms", "endpoint": "x"}]}, "protocol"),
        ({**MINIMAL, "subscriptions": [{"protocol": "sqs", "endpoint": "queue"}]}, "sqs ARN"),
        ({**MINIMAL, "subscriptions": [{"protocol": "sqs", "endpoint": QUEUE}]}, "encrypted"),
        ({**MINIMAL, "api": {"throttling_rate_limit": 0}}, "throttling_rate_limit"),
        ({**MINIMAL, "api": {"throttling_burst_limit": True}}, "throttling_burst_limit"),
        ({**MINIMAL, "api": {"logging_role": "mine"}}, "logging_role"),
        ({**MINIMAL, "waf": {"enabled": "yes"}}, "waf.enabled"),
        ({**MINIMAL, "waf": {"requests_per_5_minutes_per_ip": 5}}, "at least 10"),
        ({**MINIMAL, "receiver_reserved_concurrency": 0}, "receiver_reserved_concurrency"),
        ({**MINIMAL, "alarms": {"unauthorized_per_5_minutes": "many"}}, "unauthorized"),
        (
            {**MINIMAL, "alarms": {"subscriptions": [{"protocol": "email", "endpoint": ""}]}},
            "alarms.subscriptions[0].endpoint",
        ),
        ({**MINIMAL, "state_readers": ["my-role"]}, "state_readers"),
        ({**MINIMAL, "state_readers": ["arn:aws:iam::111111111111:role/r/"]}, "state_readers"),
        ({**MINIMAL, "state_readers": ["arn:aws:iam::111111111111:role//r"]}, "state_readers"),
        ({**MINIMAL, "state_readers": "arn:aws:iam::111111111111:role/r"}, "state_readers"),
        ({**MINIMAL, "subscriber_accounts": ["1234"]}, "subscriber_accounts"),
        (
            {
                **MINIMAL,
                "subscriptions": [{"protocol": "email", "endpoint": "a@b", "topics": ["Nap"]}],
            },
            "Nap",
        ),
        (
            {**MINIMAL, "subscriptions": [{"protocol": "https", "endpoint": "http://x"}]},
            "https:// URL",
        ),
    ],
)
def test_invalid_settings_name_the_environment_and_the_problem(
    raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match="SOD") as raised:
        parse_environment("SOD", raw)

    assert message in str(raised.value)


def test_an_empty_environment_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one environment"):
        parse_environments({})


def test_declared_subscriptions_are_created_with_their_filter_policies() -> None:
    config = parse_environment(
        "SOD",
        {
            **MINIMAL,
            "subscriptions": [
                {
                    "topics": ["Suspend", "Delete"],
                    "protocol": "sqs",
                    "endpoint": "arn:aws:sqs:eu-west-1:111111111111:tenant-offboarding",
                    "filter_policy": {"ContextIdentifier": ["Cust12345"]},
                    "raw_message_delivery": True,
                    "queue_encryption": "sse-sqs",
                },
                {
                    "protocol": "lambda",
                    "endpoint": "arn:aws:lambda:eu-west-1:111111111111:function:on-tenant-change",
                },
                {"topics": ["Move"], "protocol": "https", "endpoint": "https://hooks.example/t"},
                {"topics": ["Unknown"], "protocol": "email", "endpoint": "ops@example.com"},
            ],
        },
    )
    template = Template.from_stack(TenantStatusStack(cdk.App(), "Test", config=config))

    template.resource_count_is("AWS::SNS::Subscription", 2 + 7 + 1 + 1)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "sqs",
            "FilterPolicy": {"ContextIdentifier": ["Cust12345"]},
            "RawMessageDelivery": True,
        },
    )
    sns_invokes = template.find_resources(
        "AWS::Lambda::Permission", {"Properties": {"Principal": "sns.amazonaws.com"}}
    )
    assert len(sns_invokes) == 7
    assert {p["Properties"]["FunctionName"] for p in sns_invokes.values()} == {
        "arn:aws:lambda:eu-west-1:111111111111:function:on-tenant-change"
    }
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


@pytest.mark.parametrize(
    "encryption", ["aws-managed-key", "arn:aws:kms:eu-west-1:111111111111:alias/aws/sqs"]
)
def test_a_subscriber_queue_under_the_aws_managed_key_is_refused_with_the_reason(
    encryption: str,
) -> None:
    raw = {
        **MINIMAL,
        "subscriptions": [{"protocol": "sqs", "endpoint": QUEUE, "queue_encryption": encryption}],
    }

    with pytest.raises(ConfigError) as raised:
        parse_environment("SOD", raw)

    message = str(raised.value)
    assert "subscriptions[0]" in message
    assert "silently receives nothing" in message
    assert "sse-sqs" in message and "stack-key" in message


def test_the_same_rule_holds_for_queues_subscribed_to_alarms() -> None:
    raw = {
        **MINIMAL,
        "alarms": {
            "subscriptions": [
                {"protocol": "sqs", "endpoint": QUEUE, "queue_encryption": "aws-managed-key"}
            ]
        },
    }

    with pytest.raises(ConfigError, match=r"alarms\.subscriptions\[0\].*silently"):
        parse_environment("SOD", raw)


def test_edge_settings_default_when_absent_and_are_read_when_present() -> None:
    defaults = parse_environment("SOD", MINIMAL)
    chosen = parse_environment(
        "SOD",
        {
            **MINIMAL,
            "api": {"throttling_rate_limit": 5, "throttling_burst_limit": 7},
            "waf": {"enabled": True, "requests_per_5_minutes_per_ip": 300},
            "receiver_reserved_concurrency": 20,
            "publisher_reserved_concurrency": 2,
            "alarms": {
                "unauthorized_per_5_minutes": 9,
                "subscriptions": [{"protocol": "email", "endpoint": "ops@example.com"}],
            },
        },
    )

    assert (defaults.api.logging_role, defaults.waf.enabled) == ("create", False)
    assert defaults.receiver_reserved_concurrency is None
    assert (chosen.api.throttling_rate_limit, chosen.api.throttling_burst_limit) == (5.0, 7)
    assert (chosen.waf.enabled, chosen.waf.requests_per_5_minutes_per_ip) == (True, 300)
    assert (chosen.receiver_reserved_concurrency, chosen.publisher_reserved_concurrency) == (
        20,
        2,
    )
    assert chosen.alarms.unauthorized_per_5_minutes == 9
    assert [s.endpoint for s in chosen.alarms.subscriptions] == ["ops@example.com"]


ROOT = Path(__file__).resolve().parents[2]


def test_a_configuration_error_at_synth_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    context = {CONTEXT_KEY: {"SOD": {**MINIMAL, "aplication_id": "abc"}}}
    environ = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(tmp_path)}

    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'error: cdk.json {CONTEXT_KEY}.SOD: "aplication_id" is not a setting; '
        'did you mean "application_id"?'
    ]


@pytest.mark.parametrize(("name", "status"), [("Stage", 0), ("Bogus", 2), ("", 2)])
def test_the_deploy_targets_refuse_an_environment_cdk_json_does_not_name(
    name: str, status: int
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.config", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == status
    expected = (
        []
        if status == 0
        else [
            f"error: ENV={name} is not an environment in cdk.json; choose one of "
            "SOD, Stage, Production"
        ]
    )
    assert result.stderr.splitlines() == expected
