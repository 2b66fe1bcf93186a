"""The test the README gives as a start for your own, kept here so that it keeps passing."""

from __future__ import annotations

from pathlib import Path

from tools.local_stack import LocalStack, post

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_suspension_is_stored_and_published_on_its_topic(local_stack: LocalStack) -> None:
    token = local_stack.sign("Cust12345")  # signed by the local stand-in for SuperOffice
    body = {"ChangeType": 2, "ContextIdentifier": "Cust12345", "Token": token}

    status, answer = post(local_stack.url, body)  # over HTTP, through the API stand-in

    assert (status, answer["status"]) == (200, "accepted")
    (state,) = local_stack.tenant_states()  # the table's state items
    assert state["Status"] == "suspended"
    (delivery,) = local_stack.receive(expected=1)  # what reached the subscribed queue
    assert delivery.topic_key == "Suspend"
    assert delivery.message["EventId"] == answer["eventId"]


def test_the_readme_shows_this_test_as_it_is() -> None:
    source = Path(__file__).read_text()
    example = source[source.index("def test_a_suspension") : source.index("\n\n\ndef test_the")]
    imports = "from tools.local_stack import LocalStack, post\n"

    assert f"\n{imports}" in source
    assert f"```python\n{imports}\n\n{example}\n```" in README.read_text()
