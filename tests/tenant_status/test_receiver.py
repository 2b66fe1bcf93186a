"""The receiver end to end: HTTP -> handler -> moto's DynamoDB -> stream -> SNS -> SQS."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from tenant_status import table
from tenant_status.change_types import STATUS_AFTER, TOPIC_KEYS, ChangeType
from tenant_status.store import from_attributes
from tools.api_gateway import proxy_event
from tools.local_stack import LocalStack, post
from tools.superoffice_standin import SigningKey

TENANT = "Cust12345"


def _body(
    stack: LocalStack, change_type: int, tenant: str = TENANT, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ChangeType": change_type,
        "ContextIdentifier": tenant,
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "Token": stack.sign(tenant),
    }
    if change_type == ChangeType.Move:
        body["PublicEndpoint"] = "sod3.superoffice.com"
    body.update(fields)
    return body


def _items(stack: LocalStack) -> list[dict[str, Any]]:
    return [from_attributes(i) for i in stack.dynamodb.scan(TableName=stack.table_name)["Items"]]


def _history(stack: LocalStack, tenant: str = TENANT) -> list[dict[str, Any]]:
    return sorted(
        (i for i in _items(stack) if i["pk"] == table.tenant_key(tenant) and i["sk"] != "STATE"),
        key=lambda i: int(i["Sequence"]),
    )


def _state(stack: LocalStack, tenant: str = TENANT) -> dict[str, Any] | None:
    for item in _items(stack):
        if item["pk"] == table.tenant_key(tenant) and item["sk"] == table.STATE_SORT_KEY:
            return item
    return None


def _assert_nothing_changed(stack: LocalStack) -> None:
    assert stack.item_count() == 0
    assert stack.receive(expected=0, timeout=1.0) == []


@pytest.mark.parametrize("change_type", list(ChangeType), ids=lambda c: c.name)
def test_each_change_type_is_stored_and_published_once_on_its_topic(
    local_stack: LocalStack, change_type: ChangeType
) -> None:
    status, answer = post(local_stack.url, _body(local_stack, change_type))

    assert (status, answer["status"]) == (200, "accepted")
    state = _state(local_stack)
    assert state is not None
    assert state["Status"] == STATUS_AFTER[change_type].status
    assert state["LastChangeType"] == change_type
    assert state["VersionName"] == "Release_10.3.8_2024.08.30-01"
    history = _history(local_stack)
    assert [h["EventId"] for h in history] == [answer["eventId"]]

    deliveries = local_stack.receive(expected=1)
    assert [(d.topic_key, d.message["EventId"]) for d in deliveries] == [
        (change_type.name, answer["eventId"])
    ]
    message = deliveries[0].message
    assert message["ChangeType"] == int(change_type)
    assert message["ChangeTypeName"] == change_type.name
    assert message["ContextIdentifier"] == TENANT
    assert message["Environment"] == "Local"
    assert message["Sequence"] == 1


def test_a_move_records_the_new_public_endpoint(local_stack: LocalStack) -> None:
    post(local_stack.url, _body(local_stack, ChangeType.Upgrade))
    post(local_stack.url, _body(local_stack, ChangeType.Move))

    state = _state(local_stack)

    assert state is not None
    assert (state["Status"], state["PublicEndpoint"]) == ("running", "sod3.superoffice.com")
    assert state["Sequence"] == 2


def test_an_unknown_change_type_is_recorded_and_sent_to_the_catch_all_topic(
    local_stack: LocalStack,
) -> None:
    post(local_stack.url, _body(local_stack, ChangeType.Suspend))
    status, answer = post(local_stack.url, _body(local_stack, 42))

    assert (status, answer["status"]) == (200, "accepted")
    state = _state(local_stack)
    assert state is not None
    assert (state["Status"], state["LastChangeType"]) == ("suspended", 42)
    topics = [d.topic_key for d in local_stack.receive(expected=2)]
    assert sorted(topics) == ["Suspend", "Unknown"]


def test_a_replayed_notification_is_answered_200_and_changes_nothing(
    local_stack: LocalStack,
) -> None:
    body = _body(local_stack, ChangeType.Delete)

    first = post(local_stack.url, body)
    items_after_first = _items(local_stack)
    second = post(local_stack.url, body)

    assert first[1]["status"] == "accepted"
    assert second == (200, {"status": "duplicate", "eventId": first[1]["eventId"]})
    assert _items(local_stack) == items_after_first
    assert len(local_stack.receive(expected=2, timeout=2.0)) == 1


def test_a_replay_at_once_followed_by_a_new_notification_loses_nothing(
    local_stack: LocalStack,
) -> None:
    accepted = []
    for round_ in range(8):
        tenant = f"Cust{round_}"
        body = _body(local_stack, ChangeType.Suspend, tenant=tenant)
        accepted.append(post(local_stack.url, body)[1]["eventId"])
        assert post(local_stack.url, body)[1]["status"] == "duplicate"
        accepted.append(post(local_stack.url, _body(local_stack, 3, tenant=tenant))[1]["eventId"])

    delivered = [d.message["EventId"] for d in local_stack.receive(expected=len(accepted))]

    assert sorted(delivered) == sorted(accepted)


def test_notifications_after_a_replay_are_still_published(local_stack: LocalStack) -> None:
    body = _body(local_stack, ChangeType.Suspend)
    post(local_stack.url, body)
    assert [d.topic_key for d in local_stack.receive(expected=1)] == ["Suspend"]
    post(local_stack.url, body)

    status, answer = post(local_stack.url, _body(local_stack, ChangeType.Resume))

    assert status == 200
    deliveries = local_stack.receive(expected=1)
    assert [(d.topic_key, d.message["EventId"]) for d in deliveries] == [
        ("Resume", answer["eventId"])
    ]


def test_two_notifications_in_one_token_lifetime_are_two_events(local_stack: LocalStack) -> None:
    token = local_stack.sign(TENANT)

    post(local_stack.url, _body(local_stack, ChangeType.Suspend, Token=token))
    post(local_stack.url, _body(local_stack, ChangeType.Resume, Token=token))

    assert [h["ChangeTypeName"] for h in _history(local_stack)] == ["Suspend", "Resume"]


def test_an_older_notification_does_not_roll_the_state_back(local_stack: LocalStack) -> None:
    older = local_stack.key.sign(
        issuer=local_stack.issuer,
        context_identifier=TENANT,
        extra_claims={"iat": int(time.time()) - 60},
    )
    post(local_stack.url, _body(local_stack, ChangeType.Resume))
    status, _ = post(local_stack.url, _body(local_stack, ChangeType.Suspend, Token=older))

    assert status == 200
    state = _state(local_stack)
    assert state is not None
    assert (state["Status"], state["LastChangeTypeName"]) == ("running", "Resume")
    history = _history(local_stack)
    assert [(h["ChangeTypeName"], h["Superseded"]) for h in history] == [
        ("Resume", False),
        ("Suspend", True),
    ]
    deliveries = sorted(local_stack.receive(expected=2), key=lambda d: d.message["Sequence"])
    assert [(d.message["ChangeTypeName"], d.message["Superseded"]) for d in deliveries] == [
        ("Resume", False),
        ("Suspend", True),
    ]
    # A subscription filter policy can leave out what changed nothing.
    assert [d.attributes["Superseded"] for d in deliveries] == ["false", "true"]


@pytest.mark.parametrize(
    ("later", "earlier"), [(0.9, 0.1), (-0.0002, -0.0009)], ids=["by-0.8-s", "by-0.7-ms"]
)
def test_a_token_issued_a_fraction_of_a_second_earlier_is_older(
    local_stack: LocalStack, later: float, earlier: float
) -> None:
    issued = int(time.time()) - 5
    newer = local_stack.sign(TENANT, extra_claims={"iat": issued + later})
    older = local_stack.sign(TENANT, extra_claims={"iat": issued + earlier})
    post(local_stack.url, _body(local_stack, ChangeType.Resume, Token=newer))

    post(local_stack.url, _body(local_stack, ChangeType.Suspend, Token=older))

    state = _state(local_stack)
    assert state is not None
    assert state["Status"] == "running"
    assert [h["Superseded"] for h in _history(local_stack)] == [False, True]


def _notify_issued(
    stack: LocalStack, change_type: int, seconds_ago: int, **fields: Any
) -> dict[str, Any]:
    token = stack.sign(TENANT, extra_claims={"iat": int(time.time()) - seconds_ago})
    status, answer = post(stack.url, _body(stack, change_type, Token=token, **fields))
    assert (status, answer["status"]) == (200, "accepted")
    return answer


def test_a_move_arriving_after_a_newer_upgrade_still_moves_the_tenant(
    local_stack: LocalStack,
) -> None:
    _notify_issued(local_stack, ChangeType.Move, 100, PublicEndpoint="sod1.superoffice.com")
    _notify_issued(local_stack, ChangeType.Upgrade, 10)

    _notify_issued(local_stack, ChangeType.Move, 50, PublicEndpoint="sod3.superoffice.com")

    state = _state(local_stack)
    assert state is not None
    assert (state["Status"], state["PublicEndpoint"]) == ("upgrading", "sod3.superoffice.com")
    assert [h["Superseded"] for h in _history(local_stack)] == [False, False, True]


def test_a_move_older_than_the_one_applied_leaves_the_endpoint(local_stack: LocalStack) -> None:
    _notify_issued(local_stack, ChangeType.Move, 10, PublicEndpoint="sod3.superoffice.com")

    _notify_issued(local_stack, ChangeType.Move, 50, PublicEndpoint="sod1.superoffice.com")

    state = _state(local_stack)
    assert state is not None and state["PublicEndpoint"] == "sod3.superoffice.com"


def test_an_unknown_change_type_does_not_make_a_late_suspension_look_older(
    local_stack: LocalStack,
) -> None:
    _notify_issued(local_stack, ChangeType.Resume, 100)
    _notify_issued(local_stack, 99, 10)

    _notify_issued(local_stack, ChangeType.Suspend, 50)

    state = _state(local_stack)
    assert state is not None and state["Status"] == "suspended"
    assert [h["Superseded"] for h in _history(local_stack)] == [False, False, False]


@pytest.mark.parametrize("iat", [1e-200, 5e-324])
def test_a_signed_issue_time_of_a_tiny_fraction_is_recorded(
    local_stack: LocalStack, iat: float
) -> None:
    token = local_stack.sign(TENANT, extra_claims={"iat": iat})

    status, answer = post(local_stack.url, _body(local_stack, ChangeType.Suspend, Token=token))

    assert (status, answer["status"]) == (200, "accepted")
    state = _state(local_stack)
    assert state is not None and state["Status"] == "suspended"


def test_a_transaction_cancelled_for_a_conflict_is_retried(local_stack: LocalStack) -> None:
    # Real DynamoDB cancels a transaction that meets another on the same item this way;
    # moto never does, so the first attempt is answered as DynamoDB would answer it.
    attempts: list[str] = []

    def conflict_on_the_first_attempt(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        attempts.append("TransactWriteItems")
        if len(attempts) > 1:
            return None
        cancelled = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
        }
        return AWSResponse("", 400, HTTPHeaders(), None), cancelled

    local_stack.receiver_dynamodb.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", conflict_on_the_first_attempt
    )

    status, answer = post(local_stack.url, _body(local_stack, ChangeType.Suspend))

    assert (status, answer["status"]) == (200, "accepted")
    assert len(attempts) == 2
    assert len(_history(local_stack)) == 1
    assert len(local_stack.receive(expected=1)) == 1


def test_a_replayed_move_with_the_host_in_other_letter_case_is_a_duplicate(
    local_stack: LocalStack,
) -> None:
    body = _body(local_stack, ChangeType.Move)
    _, first = post(local_stack.url, body)

    status, answer = post(local_stack.url, {**body, "PublicEndpoint": "SOD3.SuperOffice.com"})

    assert (status, answer) == (200, {"status": "duplicate", "eventId": first["eventId"]})
    assert len(_history(local_stack)) == 1


def test_a_forged_notification_changes_nothing(
    local_stack: LocalStack, other_key: SigningKey
) -> None:
    body = _body(local_stack, ChangeType.Delete)
    body["Token"] = SigningKey(other_key.private_key, local_stack.key.kid).sign(
        issuer=local_stack.issuer, context_identifier=TENANT
    )

    status, answer = post(local_stack.url, body)

    assert (status, answer["error"]) == (401, "signature_invalid")
    _assert_nothing_changed(local_stack)


def test_a_non_json_content_type_is_refused(local_stack: LocalStack) -> None:
    raw = json.dumps(_body(local_stack, 2)).encode()

    status, answer = post(local_stack.url, raw, content_type="text/plain")

    assert (status, answer["error"]) == (415, "unsupported_content_type")
    _assert_nothing_changed(local_stack)


def test_a_base64_encoded_body_is_accepted(local_stack: LocalStack) -> None:
    from tenant_status.receiver import build_receiver
    from tenant_status.settings import ReceiverSettings, VerifierSettings

    receiver = build_receiver(
        ReceiverSettings(
            environment="Local",
            table_name=local_stack.table_name,
            verifier=VerifierSettings(
                accepted_issuers=(local_stack.issuer,), jwks_url=local_stack.jwks.jwks_url
            ),
        ),
        local_stack.dynamodb,
    )
    event = proxy_event(
        method="POST",
        resource="/NotifyCustomerStateChange",
        stage="Local",
        headers={"Content-Type": "application/json"},
        body=json.dumps(_body(local_stack, 3)).encode(),
    )
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    response = receiver.handle(event)

    assert response["statusCode"] == 200
    assert _state(local_stack) is not None


def test_aws_failing_is_a_5xx_without_details(local_stack: LocalStack) -> None:
    local_stack.dynamodb.delete_table(TableName=local_stack.table_name)

    status, answer = post(local_stack.url, _body(local_stack, ChangeType.Suspend))

    assert status == 502
    assert answer == {"error": "unavailable", "message": "Retry later."}


def test_a_defect_in_the_function_is_a_500_with_one_log_line_and_nothing_stored(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body = _body(local_stack, ChangeType.Suspend)

    def defect(*_: Any) -> None:
        raise RuntimeError(f"a message quoting its input: {body['Token']}")

    monkeypatch.setattr(local_stack._receiver._store, "record", defect)
    caplog.set_level(logging.INFO, logger="tenant_status")

    status, answer = post(local_stack.url, body)

    assert (status, answer) == (500, {"error": "internal_error", "message": "Retry later."})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("receiver")]
    assert [(line["outcome"], line["reason"]) for line in lines] == [("failed", "internal_error")]
    assert lines[0]["error"].startswith("RuntimeError at test_receiver.py:")
    assert body["Token"].split(".")[1] not in "\n".join(r.getMessage() for r in caplog.records)
    _assert_nothing_changed(local_stack)


def test_the_log_line_never_holds_the_token(
    local_stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenant_status")
    accepted = _body(local_stack, ChangeType.Upgrade)
    refused = {**_body(local_stack, ChangeType.Upgrade), "ContextIdentifier": "Cust99999"}

    post(local_stack.url, accepted)
    post(local_stack.url, refused)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("receiver")]
    assert [line["outcome"] for line in lines] == ["accepted", "rejected"]
    assert lines[0]["tenant"] == TENANT and lines[0]["change_type_name"] == "Upgrade"
    assert lines[1]["reason"] == "context_mismatch"
    text = "\n".join(r.getMessage() for r in caplog.records)
    for token in (accepted["Token"], refused["Token"]):
        for part in token.split("."):
            assert part not in text


def test_every_topic_exists_locally(local_stack: LocalStack) -> None:
    assert sorted(local_stack.topic_arns) == sorted(TOPIC_KEYS)


@pytest.mark.parametrize(
    "vary",
    [
        lambda body: {**body, "Token": body["Token"] + "=="},
        lambda body: {**body, "VersionName": "", "FileVersion": None},
        lambda body: {**body, "Extra": "ignored"},
    ],
    ids=["padded-signature", "empty-vs-missing-fields", "unknown-field"],
)
def test_a_replay_in_another_spelling_is_still_a_duplicate(
    local_stack: LocalStack, vary: Any
) -> None:
    body = _body(local_stack, ChangeType.Delete, VersionName=None, FileVersion="")

    first = post(local_stack.url, body)
    second = post(local_stack.url, vary(body))

    assert first[1]["status"] == "accepted"
    assert second == (200, {"status": "duplicate", "eventId": first[1]["eventId"]})
    assert len(_history(local_stack)) == 1
    assert len(local_stack.receive(expected=2, timeout=2.0)) == 1


def test_a_token_without_issue_time_does_not_open_the_door_to_older_ones(
    local_stack: LocalStack,
) -> None:
    now = int(time.time())

    def token(**claims: Any) -> str:
        return local_stack.key.sign(
            issuer=local_stack.issuer, context_identifier=TENANT, extra_claims=claims
        )

    post(local_stack.url, _body(local_stack, ChangeType.Suspend, Token=token(iat=now)))
    no_iat = jwt_without_iat(local_stack)
    post(local_stack.url, _body(local_stack, ChangeType.Upgrade, Token=no_iat))
    post(local_stack.url, _body(local_stack, ChangeType.Delete, Token=token(iat=now - 120)))

    state = _state(local_stack)
    assert state is not None
    assert state["Status"] == "upgrading"
    assert [(h["ChangeTypeName"], h["Superseded"]) for h in _history(local_stack)] == [
        ("Suspend", False),
        ("Upgrade", False),
        ("Delete", True),
    ]


def jwt_without_iat(stack: LocalStack) -> str:
    import jwt

    claims = {
        "iss": stack.issuer,
        "exp": int(time.time()) + 300,
        "http://schemes.superoffice.net/identity/ctx": TENANT,
    }
    return jwt.encode(claims, stack.key.private_key, "RS256", {"kid": stack.key.kid})


def test_two_concurrent_deliveries_of_one_notification_yield_one_event(
    local_stack: LocalStack,
) -> None:
    # Force the race a read-then-write duplicate check would lose: both deliveries
    # read the tenant's state before either writes.
    both_have_read = threading.Barrier(2, timeout=10)
    reads: list[str] = []

    def wait_for_the_other_read(**_: Any) -> None:
        reads.append("GetItem")
        both_have_read.wait()

    local_stack.receiver_dynamodb.meta.events.register(
        "after-call.dynamodb.GetItem", wait_for_the_other_read
    )
    body = _body(local_stack, ChangeType.Suspend)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: post(local_stack.url, body), range(2)))

    assert reads == ["GetItem", "GetItem"]
    assert sorted(a["status"] for _, a in answers) == ["accepted", "duplicate"]
    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1]["eventId"] == answers[1][1]["eventId"]
    assert len(_history(local_stack)) == 1
    deliveries = local_stack.receive(expected=1)
    deliveries += local_stack.receive(expected=0, timeout=1.0)
    assert [d.message["EventId"] for d in deliveries] == [answers[0][1]["eventId"]]


def test_a_burst_of_one_notification_in_many_spellings_yields_one_event(
    local_stack: LocalStack,
) -> None:
    body = _body(local_stack, ChangeType.Suspend)
    spellings = [json.dumps(body, indent=n) for n in range(12)]

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda raw: post(local_stack.url, raw.encode()), spellings))

    assert sorted(a["status"] for _, a in answers) == ["accepted"] + ["duplicate"] * 11
    assert len({a["eventId"] for _, a in answers}) == 1
    state = _state(local_stack)
    assert state is not None and state["Status"] == "suspended"
    assert len(_history(local_stack)) == 1
    deliveries = local_stack.receive(expected=1)
    deliveries += local_stack.receive(expected=0, timeout=1.0)
    assert len(deliveries) == 1


def test_concurrent_notifications_for_one_tenant_publish_exactly_the_recorded_events(
    local_stack: LocalStack,
) -> None:
    # Many notifications at once lose write races: the losers' cancelled transactions
    # must leave nothing to publish, and each recorded event goes out once, as recorded.
    issued = int(time.time()) - 100
    bodies = [
        _body(
            local_stack,
            change_type,
            Token=local_stack.sign(TENANT, extra_claims={"iat": issued + n % 7}),
        )
        for n, change_type in enumerate([0, 2, 3, 4, 99, 2, 3, 0] * 2)
    ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda body: post(local_stack.url, body), bodies))

    accepted = {a["eventId"] for s, a in answers if (s, a.get("status")) == (200, "accepted")}
    history = _history(local_stack)
    assert {h["EventId"] for h in history} == accepted
    assert [int(h["Sequence"]) for h in history] == list(range(1, len(accepted) + 1))
    deliveries = local_stack.receive(expected=len(accepted))
    deliveries += local_stack.receive(expected=0, timeout=1.0)
    assert sorted((d.message["Sequence"], d.message["EventId"]) for d in deliveries) == sorted(
        (int(h["Sequence"]), h["EventId"]) for h in history
    )
