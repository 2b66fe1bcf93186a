"""Why a notification is refused: one exception class per reason.

Each class carries a stable `reason` for logs and metrics and a message that is
safe to return to the caller. The HTTP status for each family is chosen in the
receiver, and only there.
"""

from __future__ import annotations


class Rejection(Exception):
    """A notification that is refused; nothing is stored or published."""

    reason = "rejected"
    message = "The notification was refused."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail or self.message


# --- the request itself is malformed ---------------------------------------


class BadRequest(Rejection):
    reason = "bad_request"
    message = "The request is malformed."


class UnsupportedContentType(BadRequest):
    reason = "unsupported_content_type"
    message = "The body must be sent as application/json."


class BodyTooLarge(BadRequest):
    reason = "body_too_large"
    message = "The body is larger than a notification can be."


class BodyNotJson(BadRequest):
    reason = "body_not_json"
    message = "The body is not valid UTF-8 JSON."


class BodyNotObject(BadRequest):
    reason = "body_not_object"
    message = "The body must be a JSON object."


class DuplicateField(BadRequest):
    reason = "duplicate_field"
    message = "The body names a field more than once."


class FieldMissing(BadRequest):
    reason = "field_missing"


class FieldInvalid(BadRequest):
    reason = "field_invalid"


# --- the token does not prove that SuperOffice sent it ---------------------


class TokenRejected(Rejection):
    reason = "token_rejected"
    message = "The token is not valid."


class TokenMalformed(TokenRejected):
    reason = "token_malformed"
    message = "The token is not a well-formed JWT."


class AlgorithmNotAllowed(TokenRejected):
    reason = "algorithm_not_allowed"
    message = "The token is not signed with an accepted algorithm."


class UnknownSigningKey(TokenRejected):
    reason = "unknown_signing_key"
    message = "The token is signed with a key this environment does not know."


class SignatureInvalid(TokenRejected):
    reason = "signature_invalid"
    message = "The token's signature does not verify."


class TokenExpired(TokenRejected):
    reason = "token_expired"
    message = "The token has expired."


class TokenNotYetValid(TokenRejected):
    reason = "token_not_yet_valid"
    message = "The token is not valid yet."


class IssuerNotAccepted(TokenRejected):
    reason = "issuer_not_accepted"
    message = "The token's issuer is not accepted for this environment."


class AudienceNotAccepted(TokenRejected):
    reason = "audience_not_accepted"
    message = "The token is not meant for this application."


class ContextMismatch(TokenRejected):
    reason = "context_mismatch"
    message = "The token was issued for another tenant than the body names."


# --- the keys to check the token cannot be had right now -------------------


class SigningKeysUnavailable(Rejection):
    reason = "signing_keys_unavailable"
    message = "The signing keys cannot be fetched right now; retry later."
