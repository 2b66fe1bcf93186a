"""Checks that a notification's token was signed by SuperOffice for this tenant.

RS256 only; keys come from configuration (pinned) or from the environment's
JWKS through PyJWT's `PyJWKClient`, never from the token. It does not parse the
body, store anything or decide HTTP statuses.
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedToken:
    claims: Mapping[str, Any]
    issued_at: int | None


class KeySource(Protocol):
    def signing_key(self, kid: str | None) -> PyJWK: ...


class PinnedKeys:
    """Keys written into the configuration; nothing is fetched."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        try:
            self._keys = [k for k in PyJWKSet.from_dict(dict(jwks)).keys if k.key_type == "RSA"]
        except PyJWKSetError as exc:
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


class _LastGoodJwksClient(PyJWKClient):
    """PyJWKClient that answers with the last key set it fetched while the endpoint is down.

    The cache lifespan and the refresh cooldown stay PyJWKClient's own: this only
    keeps an outage of the JWKS endpoint from turning into refused notifications.
    """

    def __init__(self, uri: str, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._last_good: dict[str, Any] | None = None

    def fetch_data(self) -> Any:
        try:
            data = super().fetch_data()
        except PyJWKClientConnectionError:
            if self._last_good is None:
                raise
            logger.warning('{"event": "jwks_fetch_failed", "action": "using_last_good_keys"}')
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(self._last_good)
            return self._last_good
        self._last_good = data
        return data


class JwksKeys:
    """Keys from the environment's JSON Web Key Set endpoint."""

    def __init__(self, settings: VerifierSettings) -> None:
        if not settings.jwks_url:
            raise ValueError("JwksKeys needs a JWKS URL")
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


class TokenVerifier:
    """Verifies notification tokens for one SuperOffice environment."""

    def __init__(self, settings: VerifierSettings, keys: KeySource | None = None) -> None:
        self._settings = settings
        self._keys = keys if keys is not None else key_source_for(settings)

    def verify(self, token: str, context_identifier: str) -> VerifiedToken:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise errors.TokenMalformed()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise errors.TokenMalformed() from exc

        if header.get("alg") != ALGORITHM:
            raise errors.AlgorithmNotAllowed()
        kid = header.get("kid", header.get("x5t"))
        if kid is not None and not isinstance(kid, str):
            raise errors.TokenMalformed("The token's key id is not a string.")

        key = self._keys.signing_key(kid)
        claims = self._decode(token, key)

        context = claims.get(CONTEXT_CLAIM)
        if context is not None and context != context_identifier:
            raise errors.ContextMismatch()
        issued_at = claims.get("iat")
        return VerifiedToken(claims=claims, issued_at=int(issued_at) if issued_at else None)

    def _decode(self, token: str, key: PyJWK) -> dict[str, Any]:
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
