"""Checks that a notification's token was signed by SuperOffice for this tenant.

RS256 only; keys come from configuration (pinned) or from the environment's
JWKS through PyJWT's `PyJWKClient`, never from the token. It does not parse the
body, store anything or decide HTTP statuses.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from . import errors
from .settings import VerifierSettings

ALGORITHM = "RS256"
CONTEXT_CLAIM = "http://schemes.superoffice.net/identity/ctx"
MAX_TOKEN_LENGTH = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedToken:
    claims: Mapping[str, Any]
    issued_at: float | None


class KeySource(Protocol):
    def signing_key(self, kid: str | None) -> PyJWK: ...


class PinnedKeys:
    """Keys written into the configuration; nothing is fetched."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        try:
            self._keys = [k for k in PyJWKSet.from_dict(dict(jwks)).keys if k.key_type == "RSA"]
        except Exception as exc:  # however PyJWT fails on a set, it is unusable
            raise ValueError("the pinned keys are not a usable JSON Web Key Set") from exc
        if not self._keys:
            raise ValueError("the pinned keys hold no RSA key")

    def signing_key(self, kid: str | None) -> PyJWK:
        if kid is None:
            if len(self._keys) == 1:
                return self._keys[0]
            raise errors.UnknownSigningKey("The token names no key and several are pinned.")
        for key in self._keys:
            if key.key_id == kid:
                return key
        raise errors.UnknownSigningKey()


def _require_a_signing_key(key_set: PyJWKSet) -> None:
    """A set without an RSA signing key with a `kid` could verify no notification."""
    if not any(
        key.key_type == "RSA" and key.key_id and key.public_key_use in (None, "sig")
        for key in key_set.keys
    ):
        raise PyJWKSetError("The key set holds no RSA signing key with a kid.")


class _LastGoodJwksClient(PyJWKClient):
    """PyJWKClient that keeps answering with the last good key set while the endpoint fails.

    The cache lifespan and the refresh cooldown stay PyJWKClient's own. This adds
    what a webhook needs on top: an outage, or an answer that is not a usable key
    set (a maintenance page, an empty set), never replaces keys that worked, and
    while there are none yet, failed fetches are retried at most once per cooldown.
    """

    def __init__(self, uri: str, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._last_good: dict[str, Any] | None = None
        self._last_failure: float | None = None

    def fetch_data(self) -> Any:
        if self._last_good is None and self._cooling_down_after_failure():
            raise PyJWKClientConnectionError("the JWKS endpoint failed moments ago")
        try:
            data = super().fetch_data()
            _require_a_signing_key(PyJWKSet.from_dict(data))
        except Exception as exc:  # noqa: BLE001 - no usable keys, however it failed
            # The ways are many and not all PyJWT's own: a reset connection (OSError),
            # a body that is no JSON (ValueError) or nested too deep (RecursionError),
            # a key PyJWT cannot load ("alg": "none" raises NotImplementedError, an
            # "alg" that is a list TypeError). None of them may cost the good keys.
            return self._last_good_after(exc)
        self._last_good = data
        return data

    def _last_good_after(self, failure: Exception) -> Any:
        self._last_failure = time.monotonic()
        # PyJWKClient may have cached what it fetched before it was found unusable.
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(self._last_good)
        if self._last_good is None:
            raise PyJWKClientConnectionError("the JWKS endpoint gave no usable keys") from failure
        logger.warning('{"event": "jwks_fetch_failed", "action": "using_last_good_keys"}')
        return self._last_good

    def _cooling_down_after_failure(self) -> bool:
        return (
            self._last_failure is not None
            and time.monotonic() - self._last_failure < self.cooldown_duration
        )


class JwksKeys:
    """Keys from the environment's JSON Web Key Set endpoint."""

    def __init__(self, settings: VerifierSettings) -> None:
        if not settings.jwks_url:
            raise ValueError("JwksKeys needs a JWKS URL")
        # Limitation: the timeout bounds each read of the answer, not the whole fetch, so
        # an endpoint that trickles its answer holds a request up to the function's own
        # timeout; a fetch with an overall deadline in PyJWKClient would lift it.
        self._client = _LastGoodJwksClient(
            settings.jwks_url,
            cache_jwk_set=True,
            lifespan=settings.jwks_cache_seconds,
            cooldown_duration=settings.jwks_refresh_cooldown_seconds,
            timeout=settings.jwks_timeout_seconds,
        )

    def signing_key(self, kid: str | None) -> PyJWK:
        if kid is None:
            raise errors.UnknownSigningKey("The token names no signing key.")
        # Limitation: PyJWKClient starts its refresh cooldown on every fetch, so a key
        # first used within that cooldown of the last fetch is refused once as unknown;
        # a cooldown started only by unknown-kid refreshes would lift it.
        try:
            key = self._client.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            raise errors.SigningKeysUnavailable() from exc
        except (PyJWKClientError, PyJWKSetError) as exc:
            raise errors.UnknownSigningKey() from exc
        if key.key_type != "RSA":
            raise errors.UnknownSigningKey("The token names a key that is not an RSA key.")
        return key


def key_source_for(settings: VerifierSettings) -> KeySource:
    """Pinned keys win over the JWKS endpoint when both are configured."""
    if settings.pinned_jwks:
        return PinnedKeys(settings.pinned_jwks)
    return JwksKeys(settings)


# PyJWT's exception for each way a well-formed token fails, most specific first.
_PYJWT_REJECTIONS: tuple[tuple[type[Exception], type[errors.TokenRejected]], ...] = (
    (jwt.ExpiredSignatureError, errors.TokenExpired),
    (jwt.ImmatureSignatureError, errors.TokenNotYetValid),
    (jwt.InvalidIssuerError, errors.IssuerNotAccepted),
    (jwt.InvalidAudienceError, errors.AudienceNotAccepted),
    (jwt.InvalidSignatureError, errors.SignatureInvalid),
    (jwt.InvalidAlgorithmError, errors.AlgorithmNotAllowed),
)


_TIME_CLAIMS = ("exp", "nbf", "iat")
# Seconds since 1970 up to the year 2514: anything else is not a token's time.
_LATEST_TIMESTAMP = 2**34


def _is_timestamp(value: Any) -> bool:
    # The range alone also refuses NaN and infinities, and compares an int of any
    # size without turning it into a float, which would overflow.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 <= value < _LATEST_TIMESTAMP
    )


def _issued_at(claims: Mapping[str, Any]) -> float | None:
    # Kept fractional: a token issued 0.8 s earlier is older, and must not win.
    issued_at = claims.get("iat")
    return None if issued_at is None else float(issued_at)


class TokenVerifier:
    """Verifies notification tokens for one SuperOffice environment."""

    def __init__(self, settings: VerifierSettings, keys: KeySource | None = None) -> None:
        self._settings = settings
        self._keys = keys if keys is not None else key_source_for(settings)

    def verify(self, token: str, context_identifier: str) -> VerifiedToken:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.TokenMalformed()
        header = _unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise errors.AlgorithmNotAllowed()
        kid = header.get("kid", header.get("x5t"))
        if kid is not None and not isinstance(kid, str):
            raise errors.TokenMalformed("The token's key id is not a string.")

        key = self._keys.signing_key(kid)
        claims = self._decode(token, key)

        # Limitation: the token binds the tenant (when it has a ctx claim) but not the
        # change type; only SuperOffice signing the body, or a claim naming it, lifts that.
        context = claims.get(CONTEXT_CLAIM)
        if context is not None and context != context_identifier:
            raise errors.ContextMismatch()
        return VerifiedToken(claims=claims, issued_at=_issued_at(claims))

    def _decode(self, token: str, key: PyJWK) -> dict[str, Any]:
        claims = self._pyjwt_decode(token, key)
        for name in _TIME_CLAIMS:
            # PyJWT also takes numeric strings; SuperOffice's tokens use numbers.
            if name in claims and not _is_timestamp(claims[name]):
                raise errors.TokenMalformed(f"The token's {name} claim is not a time.")
        return claims

    def _pyjwt_decode(self, token: str, key: PyJWK) -> dict[str, Any]:
        settings = self._settings
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[ALGORITHM],
                issuer=list(settings.accepted_issuers),
                audience=settings.audience,
                leeway=settings.leeway_seconds,
                options={
                    "require": ["iss"] + (["aud"] if settings.audience else []),
                    "verify_aud": settings.audience is not None,
                },
            )
        except jwt.MissingRequiredClaimError as exc:
            if exc.claim == "aud":
                raise errors.AudienceNotAccepted() from exc
            raise errors.IssuerNotAccepted("The token names no issuer.") from exc
        except jwt.InvalidTokenError as exc:
            for pyjwt_error, rejection in _PYJWT_REJECTIONS:
                if isinstance(exc, pyjwt_error):
                    raise rejection() from exc
            raise errors.TokenMalformed() from exc


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's header, read only to choose the algorithm and the key.

    PyJWT reads and checks the whole token again when it verifies the signature;
    reading just the header here spares a second pass over the claims and the
    signature on every notification.
    """
    segment = token.partition(".")[0]
    # Compact serialization: three segments, unpadded base64url (RFC 7515).
    if token.count(".") != 2 or not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise errors.TokenMalformed()
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad base64, bad UTF-8 and bad JSON.
        raise errors.TokenMalformed() from exc
    if not isinstance(header, dict):
        raise errors.TokenMalformed()
    return header
