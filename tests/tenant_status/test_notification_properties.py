"""Property tests: whatever arrives, parsing ends in a Notification or a clear 4xx reason."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tenant_status import errors
from tenant_status.notification import decode_body, parse_notification
from tenant_status.receiver import status_for

FIELDS = ["ChangeType", "ContextIdentifier", "VersionName", "FileVersion", "Token",
          "PublicEndpoint"]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=8)


def _outcome(raw: bytes) -> Any:
    try:
        return parse_notification(raw)
    except errors.BadRequest as rejection:
        assert 400 <= status_for(rejection) < 500
        assert rejection.detail and "Traceback" not in rejection.detail
        return rejection


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_any_json_object_is_parsed_or_refused_with_a_reason(body: dict[str, Any]) -> None:
    outcome = _outcome(json.dumps(body).encode())

    if not isinstance(outcome, errors.Rejection):
        assert outcome.change_type == body["ChangeType"]
        assert outcome.context_identifier == body["ContextIdentifier"]
        assert outcome.token == body["Token"]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused_with_a_reason(raw: bytes) -> None:
    _outcome(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.booleans())
def test_any_body_string_decodes_or_is_refused(body: str, is_base64: bool) -> None:
    with contextlib.suppress(errors.BadRequest):
        decode_body(body, is_base64)
