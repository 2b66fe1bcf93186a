"""Hostile and malformed requests sent to the whole receiver, over HTTP where possible.

Each one must be refused with the documented status and reason and leave no trace:
no item in the table, nothing on its stream, nothing for subscribers.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import hmac
import http.client
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from tenant_status import errors
from tenant_status.notification import MAX_BODY_BYTES
from tenant_status.receiver import build_receiver
from tenant_status.settings import ReceiverSettings, VerifierSettings
from tenant_status.verification import CONTEXT_CLAIM, MAX_TOKEN_LENGTH
from tools.api_gateway import proxy_event
from tools.local_stack import ENVIRONMENT, NOTIFY_PATH, LocalStack
from tools.superoffice_standin import LOCAL_ISSUER, JwksServer, SigningKey

TENANT = "Cust12345"
JSON = "application/json"

# What a forger holds: RSA and EC keys of their own, and a key server they control.
_ATTACKER = SigningKey.generate(kid="attacker-1")
_ATTACKER_EC = ec.generate_private_key(ec.SECP256R1())
# SuperOffice's key set could hold keys that are not RSA; the verifier must not use them.
_PUBLISHED_EC = ec.generate_private_key(ec.SECP256R1())
PUBLISHED_EC_KID = "superoffice-ec-1"
PUBLISHED_KID = "<the published RSA key's kid>"

REASONS = frozenset(
    cls.reason
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.Rejection)
)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


@dataclass(frozen=True)
class FromNow:
    """A time claim this many seconds from when the token is made."""

    seconds: int


@dataclass(frozen=True)
class Request:
    body: bytes
    content_type: str | None = JSON
    extra_headers: tuple[tuple[str, str], ...] = ()
    # When set, handed to the function as API Gateway does with isBase64Encoded, in
    # place of `body`: the HTTP stand-in only sets that flag for bodies that are not UTF-8.
    base64_body: str | None = None


class Harness:
    """One local stack for the module, plus the attacker's own key server.

    Starting a stack per case would make the catalogue slow; a case that leaves a
    trace gets the stack replaced, so the cases after it are still judged alone.
    """

    def __init__(self, moto_endpoint: str, state_dir: Path) -> None:
        self._moto_endpoint = moto_endpoint
        self._state_dir = state_dir
        self.attacker = JwksServer([_ATTACKER.public_jwk()]).start()
        self.stack = self._start()

    def _start(self) -> LocalStack:
        reset = urllib.request.Request(f"{self._moto_endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        stack = LocalStack(state_dir=self._state_dir, aws_endpoint=self._moto_endpoint).start()
        ec_jwk = dict(ECAlgorithm.to_jwk(_PUBLISHED_EC.public_key(), as_dict=True))
        ec_jwk.update(kid=PUBLISHED_EC_KID, use="sig", alg="ES256")
        # Before the first request, so the verifier's first fetch already sees it.
        stack.jwks.keys.append(ec_jwk)
        return stack

    def untouched(self) -> bool:
        return self.stack.item_count() == 0 and stream_records(self.stack) == 0

    def restart_if_touched(self) -> None:
        if not self.untouched():
            self.stack.stop()
            self.stack = self._start()

    def stop(self) -> None:
        self.stack.stop()
        self.attacker.stop()


Build = Callable[[Harness], Request]
TokenMaker = Callable[[Harness], str]


@pytest.fixture(scope="module")
def harness(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(moto_endpoint, tmp_path_factory.mktemp("hostile") / "local")
    yield harness
    harness.stop()


@pytest.fixture
def target(harness: Harness) -> Iterator[Harness]:
    yield harness
    harness.restart_if_touched()


def stream_records(stack: LocalStack) -> int:
    streams = stack.streams
    shard = streams.describe_stream(StreamArn=stack.stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stack.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def assert_no_trace(stack: LocalStack) -> None:
    assert stack.item_count() == 0
    # The publisher only ever sees what the table's stream carries, so an empty stream
    # right after the answer proves nothing will be published later; the short look
    # at the queue catches only what an earlier case might have left behind.
    assert stream_records(stack) == 0
    assert stack.receive(expected=0, timeout=0.1) == []


def send(harness: Harness, request: Request) -> tuple[int, dict[str, Any]]:
    if request.base64_body is not None:
        status, raw = _through_the_function(harness.stack, request)
    else:
        status, raw = _over_http(harness.stack.url, request)
    answer = json.loads(raw or b"{}")
    assert isinstance(answer, dict)
    return status, answer


def _over_http(url: str, request: Request) -> tuple[int, bytes]:
    # http.client rather than urllib, which would add a form Content-Type when none is given.
    parts = urllib.parse.urlsplit(url)
    headers = dict(request.extra_headers)
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("POST", parts.path, body=request.body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _through_the_function(stack: LocalStack, request: Request) -> tuple[int, bytes]:
    receiver = build_receiver(
        ReceiverSettings(
            environment=ENVIRONMENT,
            table_name=stack.table_name,
            verifier=VerifierSettings(
                accepted_issuers=(stack.issuer,), jwks_url=stack.jwks.jwks_url
            ),
        ),
        stack.dynamodb,
    )
    headers = {} if request.content_type is None else {"Content-Type": request.content_type}
    event = proxy_event(
        method="POST", resource=NOTIFY_PATH, stage=ENVIRONMENT, headers=headers, body=b""
    )
    event["body"], event["isBase64Encoded"] = request.base64_body, True
    response = receiver.handle(event)
    return int(response["statusCode"]), str(response["body"]).encode()


# --- tokens ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(part: Mapping[str, Any] | bytes) -> str:
    return _b64(part if isinstance(part, bytes) else json.dumps(part).encode())


def compact(
    header: Mapping[str, Any] | bytes,
    payload: Mapping[str, Any] | bytes,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """A JWS in compact form, built by hand so that nothing checks what it holds."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{_b64(signature)}"


def rs256_by(key: rsa.RSAPrivateKey) -> Callable[[bytes], bytes]:
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def claims_for(harness: Harness, **overrides: Any) -> dict[str, Any]:
    """Claims the verifier accepts for TENANT, with some changed; ABSENT drops one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": harness.stack.issuer,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        CONTEXT_CLAIM: TENANT,
    }
    claims.update(overrides)
    return {
        name: now + value.seconds if isinstance(value, FromNow) else value
        for name, value in claims.items()
        if value is not ABSENT
    }


KeyName = Literal["published", "attacker", "published-ec", "attacker-ec"]


def _private_key(harness: Harness, name: KeyName) -> Any:
    return {
        "published": harness.stack.key.private_key,
        "attacker": _ATTACKER.private_key,
        "published-ec": _PUBLISHED_EC,
        "attacker-ec": _ATTACKER_EC,
    }[name]


def signed(
    *,
    key: KeyName = "published",
    alg: str = "RS256",
    kid: str | None = PUBLISHED_KID,
    headers: Mapping[str, Any] | None = None,
    tenant: str = TENANT,
    **claims: Any,
) -> TokenMaker:
    """A token signed by PyJWT; header values may be functions of the harness."""

    def make(harness: Harness) -> str:
        header: dict[str, Any] = {}
        if kid is not None:
            header["kid"] = harness.stack.key.kid if kid == PUBLISHED_KID else kid
        for name, value in (headers or {}).items():
            header[name] = value(harness) if callable(value) else value
        return jwt.encode(
            claims_for(harness, **{CONTEXT_CLAIM: tenant}, **claims),
            _private_key(harness, key),
            algorithm=alg,
            headers=header,
        )

    return make


def by_published_key(header: Mapping[str, Any], payload: bytes | None = None) -> TokenMaker:
    """Hand-built and signed by the published key: a header or payload PyJWT would not write."""

    def make(harness: Harness) -> str:
        full = {"alg": "RS256", "typ": "JWT", "kid": harness.stack.key.kid, **header}
        body = payload if payload is not None else json.dumps(claims_for(harness)).encode()
        return compact(full, body, rs256_by(harness.stack.key.private_key))

    return make


def unsigned(header: Mapping[str, Any], trailing_dot: bool = True) -> TokenMaker:
    def make(harness: Harness) -> str:
        token = compact(
            {"typ": "JWT", "kid": harness.stack.key.kid, **header}, claims_for(harness)
        )
        return token if trailing_dot else token.rstrip(".")

    return make


def _good(harness: Harness, tenant: str = TENANT) -> str:
    return harness.stack.sign(tenant)


def _attacker_jwks_url(harness: Harness) -> str:
    return harness.attacker.jwks_url


def _attacker_certificate_url(harness: Harness) -> str:
    return harness.attacker.jwks_url.replace("jwks", "certificate.pem")


def _hs256_with_public_key_pem(harness: Harness) -> str:
    public_pem = harness.stack.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": harness.stack.key.kid}
    return compact(
        header,
        claims_for(harness),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )


def _signature_stripped(harness: Harness) -> str:
    return _good(harness).rsplit(".", 1)[0] + "."


def _signature_of_another_token(harness: Harness) -> str:
    other_signature = _good(harness, "Cust99999").rsplit(".", 1)[1]
    return f"{_good(harness).rsplit('.', 1)[0]}.{other_signature}"


def _payload_altered_after_signing(harness: Harness) -> str:
    header, _, signature = _good(harness, "Cust99999").split(".")
    return f"{header}.{_segment(claims_for(harness))}.{signature}"


def _header_altered_after_signing(harness: Harness) -> str:
    _, payload, signature = _good(harness).split(".")
    header = {"alg": "RS256", "typ": "JWT", "kid": harness.stack.key.kid, "x-note": "edited"}
    return f"{_segment(header)}.{payload}.{signature}"


def _long_but_validly_signed(harness: Harness) -> str:
    token = signed(padding="x" * 6200)(harness)
    assert MAX_TOKEN_LENGTH < len(token) < MAX_BODY_BYTES - 1000
    return token


def _segments(count: int) -> TokenMaker:
    def make(harness: Harness) -> str:
        parts = _good(harness).split(".")
        return ".".join((parts * 2)[:count])

    return make


def _with_header_segment(segment: str) -> TokenMaker:
    def make(harness: Harness) -> str:
        return ".".join([segment, *_good(harness).split(".")[1:]])

    return make


# --- bodies ------------------------------------------------------------------


def valid_document(harness: Harness) -> dict[str, Any]:
    """The notification every case departs from; unchanged, it is accepted."""
    return {
        "ChangeType": 4,
        "ContextIdentifier": TENANT,
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "Token": _good(harness),
    }


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def fields(**changes: Any) -> Build:
    """The valid notification with fields changed; ABSENT drops one, functions get the harness."""

    def build(harness: Harness) -> Request:
        document = valid_document(harness)
        for name, value in changes.items():
            if value is ABSENT:
                document.pop(name, None)
            else:
                document[name] = value(harness) if callable(value) else value
        return Request(encode(document))

    return build


def token(make: TokenMaker, **changes: Any) -> Build:
    return fields(Token=make, **changes)


def raw(data: bytes, content_type: str | None = JSON) -> Build:
    return lambda _harness: Request(data, content_type)


def raw_with_token(template: str, *, prefix: bytes = b"", encoding: str = "utf-8") -> Build:
    """Literal JSON text, for what json.dumps cannot write; TOKEN becomes a valid token."""

    def build(harness: Harness) -> Request:
        return Request(prefix + template.replace("TOKEN", _good(harness)).encode(encoding))

    return build


def typed(content_type: str | None, build: Build | None = None) -> Build:
    def with_type(harness: Harness) -> Request:
        return dataclasses.replace((build or fields())(harness), content_type=content_type)

    return with_type


def _exactly(size: int) -> Build:
    def build(harness: Harness) -> Request:
        document = {**valid_document(harness), "Padding": ""}
        document["Padding"] = "x" * (size - len(encode(document)))
        body = encode(document)
        assert len(body) == size
        return Request(body)

    return build


def _form_encoded(harness: Harness) -> Request:
    body = urllib.parse.urlencode(valid_document(harness)).encode()
    return Request(body, "application/x-www-form-urlencoded")


def _multipart(harness: Harness) -> Request:
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="notification"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        + encode(valid_document(harness))
        + b"\r\n--b0undary--\r\n"
    )
    return Request(body, "multipart/form-data; boundary=b0undary")


def _gzipped(harness: Harness) -> Request:
    body = gzip.compress(encode(valid_document(harness)))
    return Request(body, JSON, extra_headers=(("Content-Encoding", "gzip"),))


def _array_of_a_notification(harness: Harness) -> Request:
    return Request(encode([valid_document(harness)]))


def _base64_flagged(text: str | Callable[[Harness], str]) -> Build:
    def build(harness: Harness) -> Request:
        body = text(harness) if callable(text) else text
        return Request(b"", JSON, base64_body=body)

    return build


def _oversized_base64(harness: Harness) -> str:
    document = {**valid_document(harness), "Padding": "x" * MAX_BODY_BYTES}
    return base64.b64encode(encode(document)).decode()


_NESTED = "[" * 5000 + "]" * 5000
_DIGITS_4000 = "9" * 4000
_DIGITS_5000 = "9" * 5000


def case(case_id: str, build: Build, status: int, reason: str) -> Any:
    return pytest.param(build, status, reason, id=case_id)


CATALOGUE = [
    # --- the body is not a JSON object ---
    case("not-json", raw(b"{not json"), 400, "body_not_json"),
    case("empty-body", raw(b""), 400, "body_not_json"),
    case("whitespace-only-body", raw(b" \r\n\t "), 400, "body_not_json"),
    case(
        "truncated-json",
        raw_with_token('{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "TOKEN"'),
        400,
        "body_not_json",
    ),
    case(
        "nan-changetype",
        raw_with_token('{"ChangeType": NaN, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}'),
        400,
        "body_not_json",
    ),
    case(
        "infinity-in-an-ignored-field",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "TOKEN", "X": Infinity}'
        ),
        400,
        "body_not_json",
    ),
    case(
        "utf8-byte-order-mark",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}',
            prefix=b"\xef\xbb\xbf",
        ),
        400,
        "body_not_json",
    ),
    case(
        "utf16-body",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}',
            encoding="utf-16",
        ),
        400,
        "body_not_json",
    ),
    case("invalid-utf8", raw(b'{"ContextIdentifier": "Cust\xff"}'), 400, "body_not_json"),
    case(
        "surrogate-encoded-as-utf8-bytes",
        raw(b'{"ContextIdentifier": "\xed\xa0\x80"}'),
        400,
        "body_not_json",
    ),
    case(
        "nesting-5000-deep",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "TOKEN", '
            f'"X": {_NESTED}}}'
        ),
        400,
        "body_not_json",
    ),
    case("json-array", raw(b"[]"), 400, "body_not_object"),
    case("json-array-holding-a-notification", _array_of_a_notification, 400, "body_not_object"),
    case("json-string", raw(b'"Cust12345"'), 400, "body_not_object"),
    case("json-number", raw(b"42"), 400, "body_not_object"),
    case("json-null", raw(b"null"), 400, "body_not_object"),
    case("json-true", raw(b"true"), 400, "body_not_object"),
    # --- required fields missing ---
    case("no-changetype", fields(ChangeType=ABSENT), 400, "field_missing"),
    case("no-contextidentifier", fields(ContextIdentifier=ABSENT), 400, "field_missing"),
    case("no-token", fields(Token=ABSENT), 400, "field_missing"),
    case("token-null", fields(Token=None), 400, "field_missing"),
    case("token-empty", fields(Token=""), 400, "field_missing"),
    case("contextidentifier-empty", fields(ContextIdentifier=""), 400, "field_missing"),
    case(
        "field-name-with-a-space",
        raw_with_token('{"ChangeType": 4, " ContextIdentifier": "Cust12345", "Token": "TOKEN"}'),
        400,
        "field_missing",
    ),
    # --- fields of the wrong type or range ---
    case("changetype-string", fields(ChangeType="4"), 400, "field_invalid"),
    case("changetype-name", fields(ChangeType="Delete"), 400, "field_invalid"),
    case("changetype-float-2.0", fields(ChangeType=2.0), 400, "field_invalid"),
    case("changetype-float-2.5", fields(ChangeType=2.5), 400, "field_invalid"),
    case(
        "changetype-exponent",
        raw_with_token('{"ChangeType": 4e0, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}'),
        400,
        "field_invalid",
    ),
    case("changetype-true", fields(ChangeType=True), 400, "field_invalid"),
    case("changetype-false", fields(ChangeType=False), 400, "field_invalid"),
    case("changetype-null", fields(ChangeType=None), 400, "field_invalid"),
    case("changetype-negative", fields(ChangeType=-1), 400, "field_invalid"),
    case("changetype-2-pow-31", fields(ChangeType=2**31), 400, "field_invalid"),
    case("changetype-10-pow-30", fields(ChangeType=10**30), 400, "field_invalid"),
    case(
        "changetype-4000-digits",
        raw_with_token(
            f'{{"ChangeType": {_DIGITS_4000}, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}}'
        ),
        400,
        "field_invalid",
    ),
    # Python refuses to parse integers this long; the parser reports that as not JSON.
    case(
        "changetype-5000-digits",
        raw_with_token(
            f'{{"ChangeType": {_DIGITS_5000}, "ContextIdentifier": "Cust12345", "Token": "TOKEN"}}'
        ),
        400,
        "body_not_json",
    ),
    case("changetype-list", fields(ChangeType=[4]), 400, "field_invalid"),
    case("contextidentifier-number", fields(ContextIdentifier=12345), 400, "field_invalid"),
    case("contextidentifier-list", fields(ContextIdentifier=[TENANT]), 400, "field_invalid"),
    case(
        "contextidentifier-object", fields(ContextIdentifier={"id": TENANT}), 400, "field_invalid"
    ),
    case("token-number", fields(Token=12345), 400, "field_invalid"),
    case("token-list", fields(Token=lambda h: [_good(h)]), 400, "field_invalid"),
    case(
        "token-with-trailing-newline",
        fields(Token=lambda h: _good(h) + "\n"),
        400,
        "field_invalid",
    ),
    case("token-lone-surrogate", fields(Token="\udfff"), 400, "field_invalid"),
    case("versionname-number", fields(VersionName=10.3), 400, "field_invalid"),
    case("versionname-257-chars", fields(VersionName="v" * 257), 400, "field_invalid"),
    case("versionname-lone-surrogate", fields(VersionName="10.3\ud800"), 400, "field_invalid"),
    case(
        "versionname-variation-selector",
        fields(VersionName="Release\ufe0f10.3"),
        400,
        "field_invalid",
    ),
    case("fileversion-hangul-filler", fields(FileVersion="10.3\u3164"), 400, "field_invalid"),
    case("fileversion-private-use", fields(FileVersion="10.3\ue000"), 400, "field_invalid"),
    # --- sizes ---
    case("body-over-16-kib", fields(Padding="x" * 17000), 413, "body_too_large"),
    case("body-16-kib-plus-one-byte", _exactly(MAX_BODY_BYTES + 1), 413, "body_too_large"),
    case(
        "token-over-8192-chars-validly-signed",
        token(_long_but_validly_signed),
        401,
        "token_malformed",
    ),
    # --- tenant identifiers that could not be one ---
    case(
        "contextidentifier-control-char",
        fields(ContextIdentifier="Cust\x0112345"),
        400,
        "field_invalid",
    ),
    case("contextidentifier-nul", fields(ContextIdentifier="Cust\x0012345"), 400, "field_invalid"),
    case(
        "contextidentifier-newline", fields(ContextIdentifier="Cust12345\n"), 400, "field_invalid"
    ),
    case("contextidentifier-del", fields(ContextIdentifier="Cust\x7f12345"), 400, "field_invalid"),
    case(
        "contextidentifier-10k-chars", fields(ContextIdentifier="C" * 10_000), 400, "field_invalid"
    ),
    case("contextidentifier-257-chars", fields(ContextIdentifier="C" * 257), 400, "field_invalid"),
    case("contextidentifier-65-chars", fields(ContextIdentifier="C" * 65), 400, "field_invalid"),
    case(
        "contextidentifier-cyrillic-lookalike",
        fields(ContextIdentifier="\u0421ust12345"),
        400,
        "field_invalid",
    ),
    case(
        "contextidentifier-fullwidth-digits",
        fields(ContextIdentifier="Cust\uff11\uff12\uff13"),
        400,
        "field_invalid",
    ),
    case(
        "contextidentifier-zero-width-space",
        fields(ContextIdentifier="Cust\u200b12345"),
        400,
        "field_invalid",
    ),
    case(
        "contextidentifier-path-traversal",
        fields(ContextIdentifier="../Cust1"),
        400,
        "field_invalid",
    ),
    case(
        "contextidentifier-embedded-traversal",
        fields(ContextIdentifier="Cust1/../Cust2"),
        400,
        "field_invalid",
    ),
    case("contextidentifier-space", fields(ContextIdentifier="Cust 12345"), 400, "field_invalid"),
    case(
        "contextidentifier-leading-space",
        fields(ContextIdentifier=" Cust12345"),
        400,
        "field_invalid",
    ),
    # The table's keys are built as TENANT#<id>: a '#' could reach into another key's space.
    case(
        "contextidentifier-key-separator",
        fields(ContextIdentifier="Cust12345#STATE"),
        400,
        "field_invalid",
    ),
    case(
        "contextidentifier-lone-surrogate",
        fields(ContextIdentifier="\ud800"),
        400,
        "field_invalid",
    ),
    # --- a field named twice: parsers disagree on which one wins ---
    case(
        "duplicate-contextidentifier",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust99999", '
            '"ContextIdentifier": "Cust12345", "Token": "TOKEN"}'
        ),
        400,
        "duplicate_field",
    ),
    case(
        "duplicate-changetype",
        raw_with_token(
            '{"ChangeType": 0, "ChangeType": 4, "ContextIdentifier": "Cust12345", '
            '"Token": "TOKEN"}'
        ),
        400,
        "duplicate_field",
    ),
    case(
        "duplicate-token",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust12345", "Token": "x", "Token": "TOKEN"}'
        ),
        400,
        "duplicate_field",
    ),
    case(
        "duplicate-spelled-with-an-escape",
        raw_with_token(
            '{"ChangeType": 4, "ContextIdentifier": "Cust99999", '
            '"Context\\u0049dentifier": "Cust12345", "Token": "TOKEN"}'
        ),
        400,
        "duplicate_field",
    ),
    # --- content types ---
    case("text-plain", typed("text/plain"), 415, "unsupported_content_type"),
    case("form-urlencoded", _form_encoded, 415, "unsupported_content_type"),
    case("multipart-form-data", _multipart, 415, "unsupported_content_type"),
    case("empty-content-type", typed(""), 415, "unsupported_content_type"),
    case(
        "json-suffix-media-type",
        typed("application/merge-patch+json"),
        415,
        "unsupported_content_type",
    ),
    case(
        "javascript-media-type", typed("application/javascript"), 415, "unsupported_content_type"
    ),
    # A missing Content-Type is tolerated, so the body is judged as it is.
    case(
        "no-content-type-and-not-json", raw(b"{not json", content_type=None), 400, "body_not_json"
    ),
    case(
        "no-content-type-and-forged",
        typed(None, token(signed(key="attacker"))),
        401,
        "signature_invalid",
    ),
    case("gzip-content-encoding", _gzipped, 400, "body_not_json"),
    # --- Move and its PublicEndpoint ---
    case("move-without-publicendpoint", fields(ChangeType=5), 400, "field_missing"),
    case(
        "move-with-empty-publicendpoint",
        fields(ChangeType=5, PublicEndpoint=""),
        400,
        "field_missing",
    ),
    case(
        "move-with-null-publicendpoint",
        fields(ChangeType=5, PublicEndpoint=None),
        400,
        "field_missing",
    ),
    case(
        "publicendpoint-url",
        fields(ChangeType=5, PublicEndpoint="https://sod3.superoffice.com"),
        400,
        "field_invalid",
    ),
    case(
        "publicendpoint-with-path",
        fields(ChangeType=5, PublicEndpoint="sod3.superoffice.com/login"),
        400,
        "field_invalid",
    ),
    case(
        "publicendpoint-with-space",
        fields(ChangeType=5, PublicEndpoint="sod3 superoffice.com"),
        400,
        "field_invalid",
    ),
    case(
        "publicendpoint-with-userinfo",
        fields(ChangeType=5, PublicEndpoint="evil.example@sod3.superoffice.com"),
        400,
        "field_invalid",
    ),
    case(
        "publicendpoint-leading-hyphen",
        fields(ChangeType=5, PublicEndpoint="-sod3.superoffice.com"),
        400,
        "field_invalid",
    ),
    case("publicendpoint-number", fields(ChangeType=5, PublicEndpoint=5), 400, "field_invalid"),
    case(
        "publicendpoint-not-a-host-on-upgrade",
        fields(ChangeType=0, PublicEndpoint="http://169.254.169.254/"),
        400,
        "field_invalid",
    ),
    # --- base64 bodies, as API Gateway hands over binary payloads ---
    case("base64-flag-with-invalid-base64", _base64_flagged("not base64!!"), 400, "body_not_json"),
    case("base64-flag-with-line-breaks", _base64_flagged("eyJD\nIjo0fQ=="), 400, "body_not_json"),
    case(
        "base64-flag-with-binary-garbage",
        _base64_flagged(base64.b64encode(b"\x00\xff\xfe").decode()),
        400,
        "body_not_json",
    ),
    case("base64-flag-oversized", _base64_flagged(_oversized_base64), 413, "body_too_large"),
    # --- RFC 8725: algorithms ---
    case(
        "alg-none-with-trailing-dot",
        token(unsigned({"alg": "none"})),
        401,
        "algorithm_not_allowed",
    ),
    # Without the last dot it is not a compact JWS at all.
    case(
        "alg-none-without-trailing-dot",
        token(unsigned({"alg": "none"}, trailing_dot=False)),
        401,
        "token_malformed",
    ),
    case("alg-none-capitalised", token(unsigned({"alg": "None"})), 401, "algorithm_not_allowed"),
    case("alg-missing", token(unsigned({})), 401, "algorithm_not_allowed"),
    case(
        "hs256-with-the-public-key-pem-as-secret",
        token(_hs256_with_public_key_pem),
        401,
        "algorithm_not_allowed",
    ),
    case("rs512-by-the-published-key", token(signed(alg="RS512")), 401, "algorithm_not_allowed"),
    case("ps256-by-the-published-key", token(signed(alg="PS256")), 401, "algorithm_not_allowed"),
    case(
        "es256-by-an-attacker-key",
        token(signed(key="attacker-ec", alg="ES256")),
        401,
        "algorithm_not_allowed",
    ),
    case(
        "es256-by-a-published-ec-key",
        token(signed(key="published-ec", alg="ES256", kid=PUBLISHED_EC_KID)),
        401,
        "algorithm_not_allowed",
    ),
    case(
        "rs256-naming-a-key-of-another-type",
        token(signed(kid=PUBLISHED_EC_KID)),
        401,
        "unknown_signing_key",
    ),
    # --- RFC 8725 / RFC 7515: headers the verifier must not act on ---
    case("crit-exp", token(signed(headers={"crit": ["exp"]})), 401, "token_malformed"),
    case(
        "crit-unknown-extension",
        token(signed(headers={"crit": ["urn:x"], "urn:x": 1})),
        401,
        "token_malformed",
    ),
    case("crit-empty-list", token(signed(headers={"crit": []})), 401, "token_malformed"),
    case(
        "crit-not-a-list",
        token(by_published_key({"crit": "urn:x", "urn:x": 1})),
        401,
        "token_malformed",
    ),
    case(
        "b64-false-detached-payload",
        token(by_published_key({"b64": False, "crit": ["b64"]}, payload=b"")),
        401,
        "token_malformed",
    ),
    case(
        "embedded-jwk-published-kid",
        token(signed(key="attacker", headers={"jwk": _ATTACKER.public_jwk()})),
        401,
        "signature_invalid",
    ),
    case(
        "embedded-jwk-attacker-kid",
        token(signed(key="attacker", kid="attacker-1", headers={"jwk": _ATTACKER.public_jwk()})),
        401,
        "unknown_signing_key",
    ),
    case(
        "embedded-jwk-no-kid",
        token(signed(key="attacker", kid=None, headers={"jwk": _ATTACKER.public_jwk()})),
        401,
        "unknown_signing_key",
    ),
    case(
        "jku-attacker-url-published-kid",
        token(signed(key="attacker", headers={"jku": _attacker_jwks_url})),
        401,
        "signature_invalid",
    ),
    case(
        "jku-attacker-url-attacker-kid",
        token(signed(key="attacker", kid="attacker-1", headers={"jku": _attacker_jwks_url})),
        401,
        "unknown_signing_key",
    ),
    case(
        "x5u-attacker-url-published-kid",
        token(signed(key="attacker", headers={"x5u": _attacker_certificate_url})),
        401,
        "signature_invalid",
    ),
    case(
        "x5u-attacker-url-attacker-kid",
        token(
            signed(key="attacker", kid="attacker-1", headers={"x5u": _attacker_certificate_url})
        ),
        401,
        "unknown_signing_key",
    ),
    case(
        "kid-path-traversal",
        token(signed(key="attacker", kid="../../../etc/passwd")),
        401,
        "unknown_signing_key",
    ),
    case("kid-not-a-string", token(by_published_key({"kid": 1})), 401, "token_malformed"),
    # --- signatures ---
    case("signature-stripped", token(_signature_stripped), 401, "signature_invalid"),
    case(
        "signature-of-another-token", token(_signature_of_another_token), 401, "signature_invalid"
    ),
    case(
        "payload-altered-after-signing",
        token(_payload_altered_after_signing),
        401,
        "signature_invalid",
    ),
    case(
        "header-altered-after-signing",
        token(_header_altered_after_signing),
        401,
        "signature_invalid",
    ),
    case("published-kid-other-rsa-key", token(signed(key="attacker")), 401, "signature_invalid"),
    # --- claims, on tokens the published key really signed ---
    case("iat-a-day-ahead", token(signed(iat=FromNow(86400))), 401, "token_not_yet_valid"),
    case("nbf-an-hour-ahead", token(signed(nbf=FromNow(3600))), 401, "token_not_yet_valid"),
    case(
        "expired",
        token(signed(exp=FromNow(-3600), iat=FromNow(-7200), nbf=FromNow(-7200))),
        401,
        "token_expired",
    ),
    case("exp-infinity", token(signed(exp=float("inf"))), 401, "token_malformed"),
    case("iat-nan", token(signed(iat=float("nan"))), 401, "token_malformed"),
    # Integers too large for a float: PyJWT compares them fine, float() overflows.
    case("exp-huge-integer", token(signed(exp=10**400)), 401, "token_malformed"),
    case("nbf-huge-negative", token(signed(nbf=-(10**400))), 401, "token_malformed"),
    case("iat-huge-negative", token(signed(iat=-(10**400))), 401, "token_malformed"),
    case(
        "wrong-issuer",
        token(signed(iss="https://online.superoffice.com")),
        401,
        "issuer_not_accepted",
    ),
    case(
        "issuer-with-trailing-slash",
        token(signed(iss=LOCAL_ISSUER + "/")),
        401,
        "issuer_not_accepted",
    ),
    case("no-issuer", token(signed(iss=ABSENT)), 401, "issuer_not_accepted"),
    case(
        "token-for-another-tenant",
        token(signed(tenant="Cust99999")),
        401,
        "context_mismatch",
    ),
    case(
        "contextidentifier-in-another-letter-case",
        fields(ContextIdentifier="cust12345"),
        401,
        "context_mismatch",
    ),
    case("payload-json-array", token(by_published_key({}, payload=b"[]")), 401, "token_malformed"),
    # --- not a JWT ---
    case("garbage-token", fields(Token="not-a-jwt"), 401, "token_malformed"),
    case("three-garbage-segments", fields(Token="a.b.c"), 401, "token_malformed"),
    case("only-dots", fields(Token="...."), 401, "token_malformed"),
    case("two-segments", token(_segments(2)), 401, "token_malformed"),
    case("four-segments", token(_segments(4)), 401, "token_malformed"),
    case("five-segments", token(_segments(5)), 401, "token_malformed"),
    case("header-not-base64url", token(_with_header_segment("!!!!")), 401, "token_malformed"),
    case("header-not-json", token(_with_header_segment(_b64(b"RS256"))), 401, "token_malformed"),
    case("header-json-array", token(_with_header_segment(_b64(b"[]"))), 401, "token_malformed"),
    case(
        "header-json-string", token(_with_header_segment(_b64(b'"RS256"'))), 401, "token_malformed"
    ),
]


def test_the_notification_every_case_departs_from_is_accepted_and_leaves_a_trace(
    target: Harness,
) -> None:
    # Without this, a case could pass because the stack refuses everything, or
    # because the probes below cannot see a trace at all.
    status, answer = send(target, fields()(target))

    assert (status, answer.get("status")) == (200, "accepted")
    assert target.stack.item_count() == 2
    assert stream_records(target.stack) > 0
    assert len(target.stack.receive(expected=1)) == 1


@pytest.mark.parametrize(("build", "expected_status", "reason"), CATALOGUE)
def test_a_hostile_request_is_refused_and_leaves_no_trace(
    target: Harness, build: Build, expected_status: int, reason: str
) -> None:
    request = build(target)
    attacker_fetches = target.attacker.requests

    status, answer = send(target, request)

    assert (status, answer.get("error")) == (expected_status, reason), answer
    assert isinstance(answer.get("message"), str)
    assert "Traceback" not in answer["message"]
    assert target.attacker.requests == attacker_fetches
    assert_no_trace(target.stack)


# --- anything at all -----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = [
    "ChangeType",
    "ContextIdentifier",
    "VersionName",
    "FileVersion",
    "Token",
    "PublicEndpoint",
]
TENANTS = st.sampled_from([TENANT, "Cust1", "cust12345", "Cust12345.eu"])
SEGMENT_TEXT = st.text(alphabet="ABCDEFabcdef0123456789-_=+/. ", max_size=40)
# Stands for the attacker's key server in a header, whose address is known only at run time.
ATTACKER_URL = "<the attacker's key set URL>"


@dataclass(frozen=True)
class HostileToken:
    """A token the published key never signed: text, unsigned, forged or HMAC'd."""

    kind: Literal["text", "unsigned", "forged", "hmac"]
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    published_kid: bool = False
    # Start from claims the verifier would accept, so only the signature is wrong.
    plausible: bool = False
    text: str = ""

    def render(self, harness: Harness, tenant: object) -> str:
        if self.kind == "text":
            return self.text
        claims: dict[str, Any] = {}
        if self.plausible:
            claims = claims_for(harness)
            claims[CONTEXT_CLAIM] = tenant if isinstance(tenant, str) else TENANT
        claims.update(self.claims)
        header: dict[str, Any] = {"typ": "JWT"}
        if self.published_kid:
            header["kid"] = harness.stack.key.kid
        extras = {
            name: harness.attacker.jwks_url if value == ATTACKER_URL else value
            for name, value in self.header.items()
        }
        if self.kind == "unsigned":
            token = compact({**header, "alg": "none", **extras}, claims)
            return token + self.text
        if self.kind == "hmac":
            public_pem = harness.stack.key.private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return compact(
                {**header, "alg": "HS256", **extras},
                claims,
                lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
            )
        return compact(
            {**header, "alg": "RS256", **extras}, claims, rs256_by(_ATTACKER.private_key)
        )


HEADER_EXTRAS = st.dictionaries(
    st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "x5t", "b64", "urn:x"]),
    st.sampled_from(["RS256", "none", "HS256", ["exp"], ["b64"], ATTACKER_URL]) | JSON_VALUES,
    max_size=3,
)
CLAIM_EXTRAS = st.dictionaries(
    st.sampled_from(["iss", "iat", "nbf", "exp", "aud", "sub", CONTEXT_CLAIM])
    | st.text(max_size=8),
    JSON_VALUES,
    max_size=3,
)
HOSTILE_TOKENS = st.one_of(
    st.builds(HostileToken, kind=st.just("text"), text=st.text(max_size=120)),
    st.builds(
        HostileToken,
        kind=st.just("text"),
        text=st.builds(lambda *parts: ".".join(parts), SEGMENT_TEXT, SEGMENT_TEXT, SEGMENT_TEXT),
    ),
    st.builds(
        HostileToken,
        kind=st.just("unsigned"),
        header=HEADER_EXTRAS,
        claims=CLAIM_EXTRAS,
        published_kid=st.booleans(),
        plausible=st.booleans(),
        text=SEGMENT_TEXT,
    ),
    st.builds(
        HostileToken,
        kind=st.just("forged"),
        header=HEADER_EXTRAS,
        claims=CLAIM_EXTRAS,
        published_kid=st.booleans(),
        plausible=st.booleans(),
    ),
    st.builds(
        HostileToken,
        kind=st.just("hmac"),
        header=HEADER_EXTRAS,
        claims=CLAIM_EXTRAS,
        published_kid=st.just(True),
        plausible=st.just(True),
    ),
)


@dataclass(frozen=True)
class HostileBody:
    """A JSON object whose HostileToken values are rendered when sent, or raw bytes."""

    document: dict[str, Any] | None
    raw: bytes = b""
    content_type: str | None = JSON

    def render(self, harness: Harness) -> Request:
        if self.document is None:
            return Request(self.raw, self.content_type)
        tenant = self.document.get("ContextIdentifier")
        document = {
            name: value.render(harness, tenant) if isinstance(value, HostileToken) else value
            for name, value in self.document.items()
        }
        return Request(encode(document), self.content_type)


CONTENT_TYPES = st.one_of(
    st.just(JSON),
    st.sampled_from(["application/json; charset=utf-8", "text/json", None, "text/plain"]),
)
WELL_FORMED = st.fixed_dictionaries(
    {"ChangeType": st.integers(0, 9), "ContextIdentifier": TENANTS, "Token": HOSTILE_TOKENS},
    optional={
        "PublicEndpoint": st.just("sod3.superoffice.com"),
        "VersionName": st.text(max_size=20),
        "Extra": JSON_VALUES,
    },
)
MIXED = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(max_size=10),
    st.integers(0, 9) | TENANTS | HOSTILE_TOKENS | JSON_VALUES,
    max_size=7,
)
HOSTILE_BODIES = st.one_of(
    st.builds(HostileBody, document=WELL_FORMED, content_type=CONTENT_TYPES),
    st.builds(HostileBody, document=MIXED, content_type=CONTENT_TYPES),
    st.builds(HostileBody, document=st.none(), raw=st.binary(max_size=300)),
)


def test_nothing_the_published_key_did_not_sign_is_ever_accepted(target: Harness) -> None:
    # The stack is shared by every example, so "nothing accepted" is also "the table
    # stays empty"; one real wait at the end shows nothing reached the subscribers.
    attacker_fetches = target.attacker.requests

    @settings(max_examples=80, deadline=None)
    @given(HOSTILE_BODIES)
    def post_anything(hostile: HostileBody) -> None:
        status, answer = send(target, hostile.render(target))

        assert status < 500, answer
        assert status != 200, answer
        assert 400 <= status < 500 and answer.get("error") in REASONS, answer
        assert target.stack.item_count() == 0

    post_anything()

    assert_no_trace(target.stack)
    assert target.stack.receive(expected=0, timeout=1.0) == []
    assert target.attacker.requests == attacker_fetches
