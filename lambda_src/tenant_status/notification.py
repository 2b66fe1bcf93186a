"""Turns the body SuperOffice posts into a validated `Notification`.

Checks shape and field types only; whether the token is genuine is
`verification`'s job. Unknown extra fields are ignored, as SuperOffice may add
fields at any time.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from . import errors
from .change_types import ChangeType

MAX_BODY_BYTES = 16 * 1024
MAX_TEXT_LENGTH = 256
MAX_CHANGE_TYPE = 2**31 - 1

# Tenant ids look like `Cust12345`; anything that could not be one is refused.
CONTEXT_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A DNS name such as `sod3.superoffice.com`: at least two labels, the last not
# numeric (no IP literals), no port.
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PUBLIC_ENDPOINT = re.compile(
    rf"(?=.{{1,253}}$)(?:{_HOST_LABEL}\.)+(?=[A-Za-z0-9-]*[A-Za-z]){_HOST_LABEL}"
)
# Control and invisible formatting characters (direction overrides, zero-width
# spaces, line separators), lone surrogates that JSON's \u escapes can produce,
# private-use and unassigned code points.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Unicode's default-ignorable code points that are not in those categories: they
# render as nothing (variation selectors, fillers), so two texts could look alike.
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180d\u180f\u3164"
    "\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)
_JSON_MEDIA_TYPES = frozenset({"application/json", "text/json"})


@dataclass(frozen=True)
class Notification:
    change_type: int
    context_identifier: str
    token: str
    version_name: str | None = None
    file_version: str | None = None
    public_endpoint: str | None = None


def is_context_identifier(value: str) -> bool:
    """Whether a value could be a SuperOffice tenant id."""
    return CONTEXT_IDENTIFIER.fullmatch(value) is not None


def check_content_type(content_type: str | None) -> None:
    """A missing Content-Type is tolerated; a non-JSON one is refused."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _JSON_MEDIA_TYPES:
        raise errors.UnsupportedContentType()


def decode_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The raw bytes of a body as API Gateway's proxy integration hands it over."""
    if body is None:
        raise errors.BodyNotJson("The body is empty.")
    if is_base64_encoded:
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise errors.BodyTooLarge()
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.BodyNotJson("The body is not valid base64.") from exc
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise errors.BodyTooLarge()
    return raw


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise errors.DuplicateField(f"The body names the field {key[:40]!r} more than once.")
        result[key] = value
    return result


def _reject_constant(name: str) -> None:
    raise errors.BodyNotJson(f"The body holds {name}, which JSON does not allow.")


def parse_notification(raw: bytes) -> Notification:
    try:
        text = raw.decode("utf-8")
        document = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, bad UTF-8, and integers longer than
        # Python agrees to parse.
        raise errors.BodyNotJson(
            "The body is not JSON this receiver reads: invalid UTF-8 or JSON, nesting "
            "too deep, or a number too long."
        ) from exc
    if not isinstance(document, dict):
        raise errors.BodyNotObject()

    change_type = _integer(document, "ChangeType")
    context_identifier = _required_text(document, "ContextIdentifier")
    if not CONTEXT_IDENTIFIER.fullmatch(context_identifier):
        raise errors.FieldInvalid("ContextIdentifier is not a tenant identifier.")
    token = _required_text(document, "Token", max_length=None)
    public_endpoint = _text(document, "PublicEndpoint")
    if public_endpoint is not None:
        if not PUBLIC_ENDPOINT.fullmatch(public_endpoint):
            raise errors.FieldInvalid("PublicEndpoint is not a host name.")
        # Host names ignore case; one spelling keeps a replay a duplicate.
        public_endpoint = public_endpoint.lower()
    if change_type == ChangeType.Move and public_endpoint is None:
        raise errors.FieldMissing("PublicEndpoint is required when a tenant moves.")

    return Notification(
        change_type=change_type,
        context_identifier=context_identifier,
        token=token,
        version_name=_text(document, "VersionName"),
        file_version=_text(document, "FileVersion"),
        public_endpoint=public_endpoint,
    )


def _integer(document: dict[str, Any], name: str) -> int:
    if name not in document:
        raise errors.FieldMissing(f"{name} is required.")
    value = document[name]
    # bool is an int in Python, and 2.0 is not an integer in SuperOffice's contract.
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.FieldInvalid(f"{name} must be an integer.")
    if not 0 <= value <= MAX_CHANGE_TYPE:
        raise errors.FieldInvalid(f"{name} is out of range.")
    return value


def _required_text(
    document: dict[str, Any], name: str, *, max_length: int | None = MAX_TEXT_LENGTH
) -> str:
    value = _text(document, name, max_length=max_length)
    if value is None:
        raise errors.FieldMissing(f"{name} is required.")
    return value


def _text(
    document: dict[str, Any], name: str, *, max_length: int | None = MAX_TEXT_LENGTH
) -> str | None:
    """The field's text, or None when it is absent, null or empty (all mean the same)."""
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.FieldInvalid(f"{name} must be a string.")
    if not value:
        return None
    if max_length is not None and len(value) > max_length:
        raise errors.FieldInvalid(f"{name} is too long.")
    # isprintable() is false for every character in _UNPRINTABLE (and some more), so
    # the per-character look-up only runs on text that may hold one.
    if (
        not value.isprintable() and any(unicodedata.category(c) in _UNPRINTABLE for c in value)
    ) or (not value.isascii() and _IGNORABLE.search(value)):
        raise errors.FieldInvalid(f"{name} holds control or invisible characters.")
    return value
