"""The token verifier against real RS256 tokens and a real JWKS endpoint on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tenant_status import errors
from tenant_status.settings import VerifierSettings
from tenant_status.verification import CONTEXT_CLAIM, TokenVerifier
from tests.conftest import ISSUER
from tools.superoffice_standin import JwksServer, SigningKey

TENANT = "Cust12345"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "iat": now, "nbf": now, "exp": now + 300, CONTEXT_CLAIM: TENANT}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _verifier(jwks: JwksServer, **settings: Any) -> TokenVerifier:
    return TokenVerifier(
        VerifierSettings(accepted_issuers=(ISSUER,), jwks_url=jwks.jwks_url, **settings)
    )


@pytest.fixture
def verifier(jwks: JwksServer) -> TokenVerifier:
    return _verifier(jwks)


def test_a_token_signed_by_the_published_key_is_accepted(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = signing_key.sign(issuer=ISSUER, context_identifier=TENANT)

    verified = verifier.verify(token, TENANT)

    assert verified.claims[CONTEXT_CLAIM] == TENANT
    assert verified.issued_at is not None and abs(verified.issued_at - time.time()) < 5


def test_a_token_without_context_claim_is_accepted(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = signing_key.sign(issuer=ISSUER)

    assert verifier.verify(token, TENANT).claims["iss"] == ISSUER


@pytest.mark.parametrize(
    ("claims", "rejection"),
    [
        (_claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), errors.TokenExpired),
        (_claims(nbf=int(time.time()) + 3600), errors.TokenNotYetValid),
        (_claims(iat=int(time.time()) + 86400 * 365), errors.TokenNotYetValid),
        (_claims(iss="https://online.superoffice.com"), errors.IssuerNotAccepted),
        (_claims(iss=None), errors.IssuerNotAccepted),
        (_claims(**{CONTEXT_CLAIM: "Cust99999"}), errors.ContextMismatch),
        (_claims(iat="yesterday"), errors.TokenMalformed),
        (_claims(iat=-(10**12)), errors.TokenMalformed),
        (_claims(exp=str(int(time.time()) + 300)), errors.TokenMalformed),
        (_claims(nbf=True), errors.TokenMalformed),
        (_claims(exp=10**400), errors.TokenMalformed),
        (_claims(iat=-(10**400)), errors.TokenMalformed),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "far-future-iat",
        "wrong-issuer",
        "no-issuer",
        "ctx-mismatch",
        "iat-not-a-number",
        "iat-before-1970",
        "exp-as-string",
        "nbf-as-bool",
        "exp-beyond-float",
        "iat-beyond-float",
    ],
)
def test_claims_that_do_not_hold_are_refused(
    verifier: TokenVerifier,
    signing_key: SigningKey,
    claims: dict[str, Any],
    rejection: type[errors.Rejection],
) -> None:
    token = jwt.encode(claims, signing_key.private_key, "RS256", {"kid": signing_key.kid})

    with pytest.raises(rejection):
        verifier.verify(token, TENANT)


def test_a_token_signed_with_another_key_under_the_same_kid_is_refused(
    verifier: TokenVerifier, other_key: SigningKey
) -> None:
    token = other_key.sign(issuer=ISSUER, context_identifier=TENANT)

    with pytest.raises(errors.SignatureInvalid):
        verifier.verify(token, TENANT)


def test_an_issue_time_of_zero_is_kept(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = signing_key.sign(issuer=ISSUER, extra_claims={"iat": 0})

    assert verifier.verify(token, TENANT).issued_at == 0


def test_a_token_with_an_unknown_kid_is_refused(
    verifier: TokenVerifier, other_key: SigningKey
) -> None:
    forged = SigningKey(other_key.private_key, kid="not-published")

    with pytest.raises(errors.UnknownSigningKey):
        verifier.verify(forged.sign(issuer=ISSUER, context_identifier=TENANT), TENANT)


def test_alg_none_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": signing_key.kid}, _claims())

    with pytest.raises(errors.AlgorithmNotAllowed):
        verifier.verify(token, TENANT)


def test_hs256_signed_with_the_public_key_as_secret_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    public_pem = signing_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}
    signing_input = ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(_claims()).encode())]
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(errors.AlgorithmNotAllowed):
        verifier.verify(f"{signing_input}.{_b64(mac)}", TENANT)


def test_a_stripped_signature_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    token = signing_key.sign(issuer=ISSUER, context_identifier=TENANT)
    stripped = token.rsplit(".", 1)[0] + "."

    with pytest.raises(errors.SignatureInvalid):
        verifier.verify(stripped, TENANT)


def test_a_payload_altered_after_signing_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    header, _, signature = signing_key.sign(issuer=ISSUER, context_identifier=TENANT).split(".")
    other_tenant = _b64(json.dumps(_claims(**{CONTEXT_CLAIM: "Cust99999"})).encode())

    with pytest.raises(errors.SignatureInvalid):
        verifier.verify(f"{header}.{other_tenant}.{signature}", "Cust99999")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 9000])
def test_garbage_is_a_malformed_token(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(errors.TokenMalformed):
        verifier.verify(token, TENANT)


def _with_header(token: str, header_segment: str) -> str:
    return header_segment + token[token.index(".") :]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda t: _with_header(t, _b64(b"[1, 2]")), id="header-not-an-object"),
        pytest.param(lambda t: _with_header(t, _b64(b"\xff\xfe{}")), id="header-not-utf8"),
        pytest.param(lambda t: _with_header(t, _b64(b'{"alg": "RS256"')), id="header-not-json"),
        pytest.param(lambda t: _with_header(t, _b64(b"[" * 5000)), id="header-nested-deep"),
        pytest.param(lambda t: _with_header(t, "eyJhbGciOiJSUzI1NiJ9!"), id="header-not-b64"),
        pytest.param(lambda t: _with_header(t, "eyJhbGciOiJSUzI1NiJ9="), id="header-padded"),
        pytest.param(lambda t: _with_header(t, "eyJhbGciOiJSUzI1NiJ9a"), id="header-bad-length"),
        pytest.param(lambda t: "." + t.split(".", 1)[1], id="header-empty"),
        pytest.param(lambda t: t + ".e30", id="four-segments"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="two-segments"),
    ],
)
def test_a_token_whose_header_cannot_be_read_is_malformed(
    verifier: TokenVerifier, signing_key: SigningKey, make: Callable[[str], str]
) -> None:
    token = make(signing_key.sign(issuer=ISSUER, context_identifier=TENANT))

    with pytest.raises(errors.TokenMalformed):
        verifier.verify(token, TENANT)


def test_a_key_of_another_type_under_the_token_kid_is_refused(signing_key: SigningKey) -> None:
    ec_jwk = json.loads(
        jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    ec_jwk.update(kid="ec-key", use="sig")
    server = JwksServer([signing_key.public_jwk(), ec_jwk]).start()
    try:
        token = SigningKey(signing_key.private_key, "ec-key").sign(issuer=ISSUER)
        with pytest.raises(errors.UnknownSigningKey):
            _verifier(server).verify(token, TENANT)
    finally:
        server.stop()


class TestAudience:
    def test_the_configured_audience_is_required(
        self, jwks: JwksServer, signing_key: SigningKey
    ) -> None:
        verifier = _verifier(jwks, audience="spn:app-1")
        good = signing_key.sign(issuer=ISSUER, extra_claims={"aud": "spn:app-1"})
        wrong = signing_key.sign(issuer=ISSUER, extra_claims={"aud": "spn:app-2"})
        missing = signing_key.sign(issuer=ISSUER)

        assert verifier.verify(good, TENANT).claims["aud"] == "spn:app-1"
        for token in (wrong, missing):
            with pytest.raises(errors.AudienceNotAccepted):
                verifier.verify(token, TENANT)

    def test_without_a_configured_audience_any_audience_is_accepted(
        self, verifier: TokenVerifier, signing_key: SigningKey
    ) -> None:
        token = signing_key.sign(issuer=ISSUER, extra_claims={"aud": "spn:someone"})

        assert verifier.verify(token, TENANT).claims["aud"] == "spn:someone"


class TestPinnedKeys:
    def test_pinned_keys_verify_without_any_endpoint(self, signing_key: SigningKey) -> None:
        verifier = TokenVerifier(
            VerifierSettings(
                accepted_issuers=(ISSUER,), pinned_jwks={"keys": [signing_key.public_jwk()]}
            )
        )

        token = signing_key.sign(issuer=ISSUER, context_identifier=TENANT)

        assert verifier.verify(token, TENANT).claims["iss"] == ISSUER

    def test_a_key_that_is_not_pinned_is_refused(
        self, signing_key: SigningKey, other_key: SigningKey
    ) -> None:
        verifier = TokenVerifier(
            VerifierSettings(
                accepted_issuers=(ISSUER,), pinned_jwks={"keys": [signing_key.public_jwk()]}
            )
        )
        forged = SigningKey(other_key.private_key, "other")

        with pytest.raises(errors.UnknownSigningKey):
            verifier.verify(forged.sign(issuer=ISSUER), TENANT)

    @pytest.mark.parametrize("alg", ["none", ["RS256"], {"RS256": 1}], ids=str)
    def test_pinned_keys_pyjwt_cannot_load_are_a_configuration_error(
        self, signing_key: SigningKey, alg: Any
    ) -> None:
        pinned = {"keys": [{**signing_key.public_jwk(), "alg": alg}]}

        with pytest.raises(ValueError, match="not a usable JSON Web Key Set"):
            TokenVerifier(VerifierSettings(accepted_issuers=(ISSUER,), pinned_jwks=pinned))


def _goes_down(server: JwksServer) -> None:
    server.available = False


def _answers(body: bytes) -> Callable[[JwksServer], None]:
    def answer(server: JwksServer) -> None:
        server.override = body

    return answer


def _resets(when: str) -> Callable[[JwksServer], None]:
    def reset(server: JwksServer) -> None:
        server.reset = when

    return reset


def _serves(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[JwksServer], None]:
    def serve(server: JwksServer) -> None:
        server.keys = [change(jwk) for jwk in server.keys]

    return serve


# Ways the JWKS endpoint fails: unreachable (503), or 200 with something that is
# not a usable key set.
ENDPOINT_FAILURES = {
    "down": _goes_down,
    "connection-reset": _resets("before-answer"),
    "connection-reset-mid-body": _resets("mid-body"),
    "maintenance-page": _answers(b"<html>down for maintenance</html>"),
    "empty-key-set": _answers(b'{"keys": []}'),
    "not-an-object": _answers(b"[]"),
    "no-keys-member": _answers(b'{"x": 1}'),
    # JSON nested deeper than Python's parser goes.
    "deeply-nested-json": _answers(b"[" * 100_000 + b"]" * 100_000),
    "nested-inside-keys": _answers(b'{"keys":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    # Well-formed sets that hold nothing a notification can be verified with.
    "only-a-symmetric-key": _answers(
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "superoffice-test-1"}]}'
    ),
    # Keys PyJWT cannot load, each failing in its own way.
    "key-with-alg-none": _serves(lambda jwk: {**jwk, "alg": "none"}),
    "key-with-alg-a-list": _serves(lambda jwk: {**jwk, "alg": ["RS256"]}),
    "key-with-alg-an-object": _serves(lambda jwk: {**jwk, "alg": {"RS256": 1}}),
    "keys-without-kid": _serves(lambda jwk: {k: v for k, v in jwk.items() if k != "kid"}),
    "keys-for-encryption-only": _serves(lambda jwk: {**jwk, "use": "enc"}),
}


class TestKeyFetching:
    def test_keys_are_fetched_once_and_cached(
        self, jwks: JwksServer, signing_key: SigningKey
    ) -> None:
        verifier = _verifier(jwks)

        for _ in range(5):
            verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)

        assert jwks.requests == 1

    @pytest.mark.parametrize("fail", ENDPOINT_FAILURES.values(), ids=ENDPOINT_FAILURES.keys())
    def test_a_failing_endpoint_keeps_the_last_good_keys(
        self, jwks: JwksServer, signing_key: SigningKey, fail: Callable[[JwksServer], None]
    ) -> None:
        verifier = _verifier(jwks, jwks_cache_seconds=0.2)
        verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)
        fail(jwks)
        time.sleep(0.3)

        verified = verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)

        assert verified.claims["iss"] == ISSUER
        assert jwks.requests == 2  # the expired cache was refetched, and that failed

    @pytest.mark.parametrize("fail", ENDPOINT_FAILURES.values(), ids=ENDPOINT_FAILURES.keys())
    def test_a_failing_endpoint_before_any_keys_means_keys_unavailable(
        self, jwks: JwksServer, signing_key: SigningKey, fail: Callable[[JwksServer], None]
    ) -> None:
        fail(jwks)

        with pytest.raises(errors.SigningKeysUnavailable):
            _verifier(jwks).verify(signing_key.sign(issuer=ISSUER), TENANT)

    @pytest.mark.parametrize("fail", ENDPOINT_FAILURES.values(), ids=ENDPOINT_FAILURES.keys())
    def test_while_no_keys_were_ever_fetched_failures_are_retried_once_per_cooldown(
        self, jwks: JwksServer, signing_key: SigningKey, fail: Callable[[JwksServer], None]
    ) -> None:
        fail(jwks)
        verifier = _verifier(jwks, jwks_refresh_cooldown_seconds=60)

        for _ in range(20):
            with pytest.raises(errors.SigningKeysUnavailable):
                verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)

        assert jwks.requests == 1

    def test_a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown(
        self, jwks: JwksServer, signing_key: SigningKey, other_key: SigningKey
    ) -> None:
        verifier = _verifier(jwks, jwks_refresh_cooldown_seconds=60)
        verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)

        for attempt in range(50):
            forged = SigningKey(other_key.private_key, f"random-{attempt}")
            with pytest.raises(errors.UnknownSigningKey):
                verifier.verify(forged.sign(issuer=ISSUER), TENANT)

        assert jwks.requests == 1

    @pytest.mark.parametrize("fail", ENDPOINT_FAILURES.values(), ids=ENDPOINT_FAILURES.keys())
    def test_a_flood_of_unknown_kids_while_the_endpoint_fails_is_refused_and_fetches_once(
        self,
        jwks: JwksServer,
        signing_key: SigningKey,
        other_key: SigningKey,
        fail: Callable[[JwksServer], None],
    ) -> None:
        verifier = _verifier(jwks, jwks_refresh_cooldown_seconds=0.2)
        verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)
        fail(jwks)
        time.sleep(0.3)

        for attempt in range(20):
            forged = SigningKey(other_key.private_key, f"random-{attempt}")
            with pytest.raises(errors.UnknownSigningKey):
                verifier.verify(forged.sign(issuer=ISSUER), TENANT)

        assert jwks.requests == 2
        assert verifier.verify(signing_key.sign(issuer=ISSUER), TENANT).claims["iss"] == ISSUER

    def test_a_rotated_key_is_picked_up_without_a_restart(
        self, jwks: JwksServer, signing_key: SigningKey, other_key: SigningKey
    ) -> None:
        verifier = _verifier(jwks, jwks_refresh_cooldown_seconds=0.2)
        verifier.verify(signing_key.sign(issuer=ISSUER), TENANT)
        rotated = SigningKey(other_key.private_key, "superoffice-test-2")
        jwks.keys = [signing_key.public_jwk(), rotated.public_jwk()]
        time.sleep(0.3)

        verified = verifier.verify(rotated.sign(issuer=ISSUER), TENANT)

        assert verified.claims["iss"] == ISSUER
        assert jwks.requests == 2


_PINNED_KEY = SigningKey.generate(kid="pinned-1")
_PINNED = TokenVerifier(
    VerifierSettings(accepted_issuers=(ISSUER,), pinned_jwks={"keys": [_PINNED_KEY.public_jwk()]})
)
_segments = st.text(alphabet=st.sampled_from("ABCDEFabcdef0123456789-_=.+/ "), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(lambda a, b, c: f"{a}.{b}.{c}", _segments, _segments, _segments),
        st.builds(
            lambda header, claims: _unsigned(header, claims) + "c2ln",
            st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku"]), st.text()),
            st.dictionaries(st.sampled_from(["iss", "exp", "iat", CONTEXT_CLAIM]), st.integers()),
        ),
    )
)
def test_no_token_without_the_key_is_ever_accepted(token: str) -> None:
    with pytest.raises(errors.TokenRejected):
        _PINNED.verify(token, TENANT)
