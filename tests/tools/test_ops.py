"""The operations commands, run in-process against the local stack on loopback.

`--stage` is exercised against moto's CloudFormation describing the local stack's
resources; nothing here reaches AWS or SuperOffice.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tenant_status.change_types import ChangeType
from tenant_status.events import TenantEvent
from tenant_status.publisher import Publisher
from tenant_status.state_reader import STATE_FIELDS
from tenant_status.verification import CONTEXT_CLAIM
from tools import ops
from tools.local_stack import STACK_FILE, LocalStack, post
from tools.superoffice_standin import LOCAL_ISSUER, SigningKey

REPOSITORY = Path(__file__).resolve().parents[2]
COMMANDS = ("send", "state", "replay", "inspect-token", "jwks")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = ops.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def notify(stack: LocalStack, tenant: str, change_type: ChangeType, **fields: str) -> str:
    body: dict[str, Any] = {
        "ChangeType": int(change_type),
        "ContextIdentifier": tenant,
        "Token": stack.sign(tenant),
        **fields,
    }
    status, answer = post(stack.url, body)
    assert (status, answer["status"]) == (200, "accepted")
    return str(answer["eventId"])


def assert_one_error_line(status: int, out: str, err: str) -> None:
    assert status != 0
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err


# --- help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_says_what_each_command_does_with_an_example(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ops.main([*command, "--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m tools.ops {' '.join(command)}".rstrip())
    assert "examples:\n  python -m tools.ops " in out


@pytest.mark.parametrize(
    "argv",
    [
        ("send", "--local", "--tenant", "Cust1", "--change-type", "Bogus"),
        ("state", "Cust1"),
        ("nonsense",),
    ],
    ids=["bad-change-type", "no-target", "unknown-command"],
)
def test_a_usage_mistake_is_one_line_too(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        ops.main(list(argv))

    captured = capsys.readouterr()
    assert exited.value.code == 2
    assert_one_error_line(2, captured.out, captured.err)
    assert captured.err.rstrip().endswith("--help)")


def test_the_module_runs_as_a_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.ops", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPOSITORY,
    )

    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert command in result.stdout


# --- send ---------------------------------------------------------------------------------


def test_send_posts_a_notification_the_stack_accepts(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    local = str(local_stack.state_dir)

    status, out, _ = run(
        capsys,
        *("send", "--local", "--local-dir", local, "--tenant", "Cust777", "--change-type", "Move"),
        *("--public-endpoint", "sod3.superoffice.com", "--version-name", "Release 10.4"),
    )

    assert status == 0
    code, answer = out.split(" ", 1)
    assert code == "200"
    assert json.loads(answer)["status"] == "accepted"
    status, out, _ = run(capsys, "state", "Cust777", "--local", "--local-dir", local)
    state = json.loads(out)
    assert (state["LastChangeTypeName"], state["Status"]) == ("Move", "running")
    assert state["PublicEndpoint"] == "sod3.superoffice.com"
    assert state["LastEventId"] == json.loads(answer)["eventId"]


def test_send_takes_a_change_type_number_and_can_leave_out_the_ctx_claim(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys,
        *("send", "--url", local_stack.url),
        *("--key", str(local_stack.state_dir / "signing-key.pem")),
        *("--kid", local_stack.key.kid, "--issuer", local_stack.issuer),
        *("--tenant", "Cust778", "--change-type", "2", "--no-ctx"),
    )

    assert (status, out.split(" ", 1)[0]) == (0, "200")
    assert [s["LastChangeTypeName"] for s in local_stack.tenant_states()] == ["Suspend"]


def test_send_signed_with_a_wrong_key_is_refused(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = tmp_path / "forged.pem"
    forged.write_bytes(SigningKey.generate(kid=local_stack.key.kid).pem())

    status, out, _ = run(
        capsys,
        *("send", "--local", "--local-dir", str(local_stack.state_dir), "--key", str(forged)),
        *("--tenant", "Cust12345", "--change-type", "Delete"),
    )

    assert status == 1
    code, answer = out.split(" ", 1)
    assert (code, json.loads(answer)["error"]) == ("401", "signature_invalid")
    assert local_stack.item_count() == 0


def test_send_with_a_file_that_is_no_key_is_one_error_line(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")

    status, out, err = run(
        capsys,
        *("send", "--local", "--local-dir", str(local_stack.state_dir), "--key", str(not_a_key)),
        *("--tenant", "Cust12345", "--change-type", "Suspend"),
    )

    assert_one_error_line(status, out, err)
    assert str(not_a_key) in err


def test_send_to_a_url_nothing_listens_on_is_one_plain_error_line(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/SOD/NotifyCustomerStateChange"

    status, out, err = run(
        capsys,
        *("send", "--url", url, "--local-dir", str(local_stack.state_dir)),
        *("--tenant", "Cust12345", "--change-type", "Suspend"),
    )

    assert_one_error_line(status, out, err)
    assert err == f"error: cannot reach {url}: Connection refused\n"


def _dry_run(capsys: pytest.CaptureFixture[str], directory: Path, *fields: str) -> str:
    status, out, err = run(
        capsys,
        *("send", "--dry-run", "--local-dir", str(directory)),
        *("--tenant", "Cust12345", "--change-type", "Resume", *fields),
    )
    assert (status, err) == (0, "")
    return out


def test_send_dry_run_prints_the_signed_body_and_posts_nothing(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dry_run(capsys, local_stack.state_dir, "--version-name", "Release 10.4")

    body = json.loads(out)
    assert set(body) == {"ChangeType", "ContextIdentifier", "Token", "VersionName"}
    assert (body["ChangeType"], body["ContextIdentifier"]) == (3, "Cust12345")
    assert local_stack.tenant_states() == []
    # What it printed is what send would have posted: the stack accepts it.
    assert post(local_stack.url, body)[1]["status"] == "accepted"


# --- state --------------------------------------------------------------------------------


def test_state_prints_the_state_item_and_with_history_the_events_in_order(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [
        notify(local_stack, "Cust12345", ChangeType.Suspend),
        notify(local_stack, "Cust12345", ChangeType.Resume),
        notify(local_stack, "Cust12345", ChangeType.Upgrade, VersionName="Release 10.4"),
    ]
    notify(local_stack, "Cust23456", ChangeType.Delete)
    local = str(local_stack.state_dir)

    # --local is a flag: the tenant may come after it.
    status, out, _ = run(capsys, "state", "--local", "Cust12345", "--local-dir", local)

    assert status == 0
    state = json.loads(out)
    # The state API's fields, not the item's keys or its ordering watermarks.
    assert set(state) == set(STATE_FIELDS)
    assert state["ContextIdentifier"] == "Cust12345"
    assert (state["Status"], state["Available"], state["Sequence"]) == ("upgrading", False, 3)
    assert state["VersionName"] == "Release 10.4"
    assert out.startswith("{\n  ")

    status, out, _ = run(
        capsys, "state", "Cust12345", "--history", "--local", "--local-dir", local
    )

    assert status == 0
    document = json.loads(out)
    assert document["state"] == state
    history = document["history"]
    assert [e["EventId"] for e in history] == ids
    assert [e["Sequence"] for e in history] == [1, 2, 3]
    assert [e["ChangeTypeName"] for e in history] == ["Suspend", "Resume", "Upgrade"]
    assert not any({"pk", "sk"} & set(e) for e in history)


def test_state_of_an_unknown_tenant_is_one_error_line(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "state", "Cust404", "--local", "--local-dir", str(local_stack.state_dir)
    )

    assert status == 1
    assert_one_error_line(status, out, err)
    assert "Cust404" in err


def test_a_missing_stack_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ("state", "Cust12345", "--local", "--local-dir", str(tmp_path)),
        ("replay", "Cust12345", "--local", "--local-dir", str(tmp_path)),
        (
            "send",
            "--local",
            "--local-dir",
            str(tmp_path),
            "--tenant",
            "Cust1",
            "--change-type",
            "Resume",
        ),
    ):
        status, out, err = run(capsys, *argv)

        assert_one_error_line(status, out, err)
        assert str(tmp_path / STACK_FILE) in err
        assert err.rstrip().endswith("pass the directory it runs in to --local-dir")


def test_a_missing_stack_file_gives_no_traceback_from_the_program(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.ops",
            "state",
            "Cust12345",
            "--local",
            "--local-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPOSITORY,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_the_stack_file_describes_the_running_stack_and_goes_with_it(
    local_stack: LocalStack,
) -> None:
    path = local_stack.state_dir / STACK_FILE
    description = json.loads(path.read_text())
    assert description == {
        "url": local_stack.url,
        "aws_endpoint": local_stack.aws_endpoint,
        "region": "eu-west-1",
        "environment": "Local",
        "table_name": local_stack.table_name,
        "topic_arns": local_stack.topic_arns,
        "failure_queue_url": local_stack.failure_queue_url,
    }

    # A second stack that fails to start in the same directory leaves the file alone.
    second = LocalStack(state_dir=local_stack.state_dir, aws_endpoint=local_stack.aws_endpoint)
    with pytest.raises(ClientError):
        second.start()
    assert json.loads(path.read_text()) == description

    local_stack.stop()

    assert not path.exists()


# --- replay -------------------------------------------------------------------------------


def test_replay_republishes_each_recorded_event_once_per_run_and_writes_nothing(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [
        notify(local_stack, "Cust12345", ChangeType.Upgrade),
        notify(local_stack, "Cust12345", ChangeType.Move, PublicEndpoint="sod3.superoffice.com"),
        notify(local_stack, "Cust12345", ChangeType.Suspend),
    ]
    notify(local_stack, "Cust23456", ChangeType.Delete)
    originals = {d.message["EventId"]: d for d in local_stack.receive(expected=4)}
    assert set(ids) <= set(originals)
    items = local_stack.item_count()

    for _ in range(2):
        status, out, _ = run(
            capsys, "replay", "Cust12345", "--local", "--local-dir", str(local_stack.state_dir)
        )

        assert status == 0
        lines = out.splitlines()
        assert len(lines) == 4
        assert all(ids[i] in line for i, line in enumerate(lines[:3]))
        assert lines[-1].startswith("Republished 3 events of Cust12345")
        replayed = local_stack.receive(expected=3)
        assert [d.message["EventId"] for d in replayed] == ids
        for delivery in replayed:
            original = originals[delivery.message["EventId"]]
            assert delivery.message == original.message
            assert delivery.topic_key == original.topic_key
            assert delivery.attributes == original.attributes
        assert local_stack.item_count() == items

    assert local_stack.receive(expected=0, timeout=0.5) == []


def test_replay_from_a_sequence_republishes_only_the_later_events(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [notify(local_stack, "Cust12345", c) for c in (ChangeType.Suspend, ChangeType.Resume)]
    local_stack.receive(expected=2)

    status, out, _ = run(
        capsys,
        *(
            "replay",
            "Cust12345",
            "--from-sequence",
            "2",
            "--local",
            "--local-dir",
            str(local_stack.state_dir),
        ),
    )

    assert status == 0
    assert "Republished 1 event of Cust12345" in out
    assert [d.message["EventId"] for d in local_stack.receive(expected=1)] == ids[1:]


def test_replay_skips_an_event_sns_refuses_and_republishes_the_rest(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [notify(local_stack, "Cust12345", c) for c in (ChangeType.Suspend, ChangeType.Resume)]
    local_stack.receive(expected=2)
    publish = Publisher.publish

    def refusing_the_first(publisher: Publisher, event: TenantEvent) -> str:
        if event.event_id == ids[0]:
            refusal = {"Error": {"Code": "InvalidParameter", "Message": "Message too long"}}
            raise ClientError(refusal, "Publish")  # type: ignore[arg-type]
        return publish(publisher, event)

    monkeypatch.setattr(Publisher, "publish", refusing_the_first)

    status, out, _ = run(
        capsys, "replay", "Cust12345", "--local", "--local-dir", str(local_stack.state_dir)
    )

    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith("skipped      seq=1") and lines[0].endswith("SNS refused it")
    assert lines[1].startswith("republished  seq=2") and ids[1] in lines[1]
    assert lines[-1].startswith("Republished 1 event of Cust12345")
    assert [d.message["EventId"] for d in local_stack.receive(expected=1)] == ids[1:]


def test_replay_of_an_unknown_tenant_is_one_error_line(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "replay", "Cust404", "--local", "--local-dir", str(local_stack.state_dir)
    )

    assert_one_error_line(status, out, err)


# --- a deployed stage, as moto's CloudFormation describes it ------------------------------


def _describe_as_stage(stack: LocalStack, stage: str) -> None:
    outputs: dict[str, dict[str, str]] = {
        "StateChangeUrl": {"Value": stack.url},
        "TableName": {"Value": stack.table_name},
        "FailureQueueUrl": {"Value": stack.failure_queue_url},
    }
    outputs.update({f"TopicArn{k}": {"Value": arn} for k, arn in stack.topic_arns.items()})
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": outputs,
    }
    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=stack.aws_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    cloudformation.create_stack(
        StackName=f"{stage}-TenantStatus", TemplateBody=json.dumps(template)
    )


def test_a_stage_is_found_through_its_stack_outputs(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _describe_as_stage(local_stack, "Test")
    # The caller's credentials and endpoint, as boto3 finds them.
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(local_stack.aws_endpoint))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    event_id = notify(local_stack, "Cust12345", ChangeType.Resume)
    local_stack.receive(expected=1)

    status, out, _ = run(capsys, "state", "Cust12345", "--stage", "Test", "--region", "eu-west-1")

    assert status == 0
    assert json.loads(out)["LastEventId"] == event_id

    status, out, _ = run(capsys, "replay", "Cust12345", "--stage", "Test", "--region", "eu-west-1")

    assert status == 0
    assert [d.message["EventId"] for d in local_stack.receive(expected=1)] == [event_id]

    status, out, err = run(
        capsys, "state", "Cust12345", "--stage", "Nope", "--region", "eu-west-1"
    )

    assert_one_error_line(status, out, err)
    assert "Nope-TenantStatus" in err


# --- inspect-token ------------------------------------------------------------------------


def test_inspect_token_accepts_a_token_of_the_local_key_and_prints_its_claims(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    token = local_stack.sign("Cust12345")

    status, out, _ = run(
        capsys,
        *(
            "inspect-token",
            token,
            "--local",
            "--local-dir",
            str(local_stack.state_dir),
            "--tenant",
            "Cust12345",
        ),
    )

    assert status == 0
    document = json.loads(out)
    assert document["header"] == {"alg": "RS256", "kid": local_stack.key.kid, "typ": "JWT"}
    assert document["claims"]["iss"] == LOCAL_ISSUER
    assert document["claims"][CONTEXT_CLAIM] == "Cust12345"


def test_inspect_token_judges_a_whole_body_against_its_own_tenant(
    local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.loads(_dry_run(capsys, local_stack.state_dir))
    local = ("--local", "--local-dir", str(local_stack.state_dir))
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(body)))

    status, out, _ = run(capsys, "inspect-token", "-", *local)

    assert status == 0
    assert json.loads(out)["claims"][CONTEXT_CLAIM] == "Cust12345"

    moved = json.dumps({**body, "ContextIdentifier": "Cust2"})
    status, out, _ = run(capsys, "inspect-token", moved, *local)

    assert (status, out) == (
        1,
        "rejected: context_mismatch: the token's ctx claim is not the body's "
        "ContextIdentifier Cust2\n",
    )

    status, out, _ = run(capsys, "inspect-token", body["Token"], *local, "--tenant", "Cust3")

    assert (status, out) == (
        1,
        "rejected: context_mismatch: the token's ctx claim is not --tenant Cust3\n",
    )


@pytest.mark.parametrize("text", ['{"Token": 5}', "{not json", '{"ContextIdentifier": "C1"}'])
def test_inspect_token_given_json_that_is_no_body_is_one_error_line(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    status, out, err = run(
        capsys, "inspect-token", text, "--local", "--local-dir", str(local_stack.state_dir)
    )

    assert_one_error_line(status, out, err)
    assert "not a notification body with a Token" in err


def test_jwks_prints_the_key_set_that_verifies_what_send_signs(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "jwks", "--local-dir", str(local_stack.state_dir))
    assert status == 0
    jwks = tmp_path / "jwks.json"
    jwks.write_text(out)
    assert [k["kid"] for k in json.loads(out)["keys"]] == [local_stack.key.kid]
    assert "d" not in json.loads(out)["keys"][0]
    token = json.loads(_dry_run(capsys, local_stack.state_dir))["Token"]

    status, out, _ = run(
        capsys, "inspect-token", token, "--jwks", str(jwks), "--issuer", local_stack.issuer
    )

    assert status == 0, out


def test_inspect_token_refuses_a_forged_token_with_its_reason(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    forger = SigningKey.generate(kid=local_stack.key.kid)
    forged = forger.sign(issuer=local_stack.issuer, context_identifier="Cust12345")

    status, out, _ = run(
        capsys, "inspect-token", forged, "--local", "--local-dir", str(local_stack.state_dir)
    )

    assert status == 1
    assert out == "rejected: signature_invalid: The token's signature does not verify.\n"


def test_inspect_token_works_offline_from_a_jwks_file_and_stdin(
    signing_key: SigningKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key.public_jwk()]}))
    issuer = "https://sod.superoffice.com"
    token = signing_key.sign(issuer=issuer, context_identifier="Cust12345")
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))

    status, out, _ = run(
        capsys,
        "inspect-token",
        "-",
        "--jwks",
        str(jwks),
        "--issuer",
        issuer,
        "--tenant",
        "Cust12345",
    )

    assert status == 0
    assert json.loads(out)["claims"]["iss"] == issuer

    status, out, _ = run(
        capsys,
        "inspect-token",
        token,
        "--jwks",
        str(jwks),
        "--issuer",
        issuer,
        "--tenant",
        "Cust2",
    )

    assert (status, out.split(":")[:2]) == (1, ["rejected", " context_mismatch"])

    status, out, _ = run(
        capsys, "inspect-token", token, "--jwks", str(jwks), "--issuer", "https://other"
    )

    assert (status, out.split(":")[:2]) == (1, ["rejected", " issuer_not_accepted"])


def test_inspect_token_takes_keys_and_issuers_from_an_environment_of_cdk_json(
    signing_key: SigningKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cdk_json = tmp_path / "cdk.json"
    environment = {
        "superoffice_host": "sod.superoffice.com",
        "pinned_jwks": {"keys": [signing_key.public_jwk()]},
        "application_id": "app-1",
    }
    cdk_json.write_text(
        json.dumps({"context": {"tenant-status:environments": {"Pinned": environment}}})
    )
    monkeypatch.setattr(ops, "CDK_JSON", cdk_json)
    issuer = "https://sod.superoffice.com"
    token = signing_key.sign(issuer=issuer, extra_claims={"aud": "spn:app-1"})

    status, out, _ = run(capsys, "inspect-token", token, "--env", "Pinned")

    assert status == 0
    assert json.loads(out)["claims"]["aud"] == "spn:app-1"

    unaddressed = signing_key.sign(issuer=issuer)
    status, out, _ = run(capsys, "inspect-token", unaddressed, "--env", "Pinned")

    assert (status, out.split(":")[:2]) == (1, ["rejected", " audience_not_accepted"])

    status, out, err = run(capsys, "inspect-token", token, "--env", "Nowhere")

    assert_one_error_line(status, out, err)
    assert "Pinned" in err
