"""Parsing the body SuperOffice posts: what is accepted and why anything else is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tenant_status import errors
from tenant_status.notification import (
    MAX_BODY_BYTES,
    check_content_type,
    decode_body,
    parse_notification,
)

DOCUMENTED_MOVE = {
    "ChangeType": 5,
    "ContextIdentifier": "Cust12345",
    "VersionName": "Release_10.3.8_2024.08.30-01",
    "FileVersion": "10.3.8.2024",
    "Token": "eyJ.a.b",
    "PublicEndpoint": "sod3.superoffice.com",
}


def _raw(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_the_documented_move_example_parses() -> None:
    notification = parse_notification(_raw(DOCUMENTED_MOVE))

    assert notification.change_type == 5
    assert notification.context_identifier == "Cust12345"
    assert notification.public_endpoint == "sod3.superoffice.com"
    assert notification.version_name == "Release_10.3.8_2024.08.30-01"


def test_unknown_fields_and_change_types_are_accepted() -> None:
    document = {**DOCUMENTED_MOVE, "ChangeType": 9, "SomethingNew": {"x": [1, 2]}}

    assert parse_notification(_raw(document)).change_type == 9


def test_an_empty_public_endpoint_counts_as_absent() -> None:
    document = {**DOCUMENTED_MOVE, "ChangeType": 0, "PublicEndpoint": ""}

    assert parse_notification(_raw(document)).public_endpoint is None


def test_empty_optional_fields_count_as_absent() -> None:
    document = {**DOCUMENTED_MOVE, "VersionName": "", "FileVersion": ""}

    notification = parse_notification(_raw(document))

    assert (notification.version_name, notification.file_version) == (None, None)


def test_optional_fields_may_be_missing() -> None:
    notification = parse_notification(
        _raw({"ChangeType": 2, "ContextIdentifier": "Cust1", "Token": "t"})
    )

    assert (notification.version_name, notification.file_version) == (None, None)


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in DOCUMENTED_MOVE.items() if k != key}


@pytest.mark.parametrize(
    ("raw", "rejection"),
    [
        (b"", errors.BodyNotJson),
        (b"not json", errors.BodyNotJson),
        (b"\xff\xfe{}", errors.BodyNotJson),
        (b'{"ChangeType": NaN}', errors.BodyNotJson),
        (b"[1, 2]", errors.BodyNotObject),
        (b'"text"', errors.BodyNotObject),
        (b"null", errors.BodyNotObject),
        (
            b'{"ChangeType": 1, "ChangeType": 2, "ContextIdentifier": "C", "Token": "t"}',
            errors.DuplicateField,
        ),
        (_raw(_without("ChangeType")), errors.FieldMissing),
        (_raw(_without("ContextIdentifier")), errors.FieldMissing),
        (_raw(_without("Token")), errors.FieldMissing),
        (_raw(_without("PublicEndpoint")), errors.FieldMissing),
        (_raw({**DOCUMENTED_MOVE, "Token": ""}), errors.FieldMissing),
        (_raw({**DOCUMENTED_MOVE, "ChangeType": "5"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ChangeType": True}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ChangeType": 5.0}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ChangeType": -1}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ChangeType": 2**40}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ContextIdentifier": 12345}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ContextIdentifier": "Cust\n123"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ContextIdentifier": "C" * 65}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "ContextIdentifier": "../Cust1"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "Token": ["a"]}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "VersionName": "v" * 257}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "FileVersion": "1.0\x00"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "PublicEndpoint": "https://evil/x"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "PublicEndpoint": "169.254.169.254"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "PublicEndpoint": "localhost"}), errors.FieldInvalid),
        (
            _raw({**DOCUMENTED_MOVE, "PublicEndpoint": "sod3.superoffice.com:1"}),
            errors.FieldInvalid,
        ),
        (_raw({**DOCUMENTED_MOVE, "VersionName": "Release\u202e8.4"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "VersionName": "Release\u200b8.4"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "FileVersion": "8.4\u2028"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "FileVersion": "\ufeff8.4"}), errors.FieldInvalid),
        # Default-ignorable: a combining grapheme joiner, variation selectors, fillers.
        *(
            (_raw({**DOCUMENTED_MOVE, "VersionName": f"Release{c}8.4"}), errors.FieldInvalid)
            for c in "\u034f\ufe0f\U000e0100\u3164\u115f\uffa0\u180b"
        ),
        # Private use, and a noncharacter.
        (_raw({**DOCUMENTED_MOVE, "FileVersion": "8.4\ue000"}), errors.FieldInvalid),
        (_raw({**DOCUMENTED_MOVE, "FileVersion": "8.4\uffff"}), errors.FieldInvalid),
        (b'{"ChangeType": ' + b"9" * 5000 + b"}", errors.BodyNotJson),
        (
            b'{"ChangeType": 1, "ContextIdentifier": "C", "Token": "eyJ\\ud800.e30.x"}',
            errors.FieldInvalid,
        ),
        (
            b'{"ChangeType": 1, "ContextIdentifier": "C", "Token": "t", "FileVersion": "\\udc80"}',
            errors.FieldInvalid,
        ),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, rejection: type[errors.Rejection]) -> None:
    with pytest.raises(rejection):
        parse_notification(raw)


@pytest.mark.parametrize("text", ["Version 10: å, ü, 版本", "Release\u00a010.3"])
def test_visible_text_beyond_ascii_is_kept(text: str) -> None:
    assert parse_notification(_raw({**DOCUMENTED_MOVE, "VersionName": text})).version_name == text


def test_base64_bodies_are_decoded() -> None:
    encoded = base64.b64encode(_raw(DOCUMENTED_MOVE)).decode()

    assert parse_notification(decode_body(encoded, True)).change_type == 5


@pytest.mark.parametrize("body", ["%%%", "YWJj!"])
def test_invalid_base64_is_refused(body: str) -> None:
    with pytest.raises(errors.BodyNotJson):
        decode_body(body, True)


@pytest.mark.parametrize("encoded", [False, True])
def test_bodies_over_the_limit_are_refused(encoded: bool) -> None:
    raw = b" " * (MAX_BODY_BYTES + 1)
    body = base64.b64encode(raw).decode() if encoded else raw.decode()

    with pytest.raises(errors.BodyTooLarge):
        decode_body(body, encoded)


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/json; charset=utf-8", "Text/JSON"]
)
def test_json_content_types_are_accepted(content_type: str | None) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]
)
def test_other_content_types_are_refused(content_type: str) -> None:
    with pytest.raises(errors.UnsupportedContentType):
        check_content_type(content_type)
