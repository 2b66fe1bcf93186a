"""The local run: the examples go through, and what it leaves lets other tools sign."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from tools.local_stack import EXAMPLES, LocalStack, answer_line, post, run_examples
from tools.superoffice_standin import load_local_signer


def test_the_examples_are_answered_stored_and_delivered(local_stack: LocalStack) -> None:
    out = io.StringIO()

    assert run_examples(local_stack, out) is True

    report = out.getvalue()
    assert report.count("  200  ") == len(EXAMPLES)
    assert "  401  forged" in report
    assert "WRONG TOPIC" not in report


def test_the_saved_signer_signs_notifications_the_stack_accepts(local_stack: LocalStack) -> None:
    loaded = load_local_signer(local_stack.state_dir)
    assert loaded is not None
    key, issuer = loaded

    token = key.sign(issuer=issuer, context_identifier="Cust777")
    status, answer = post(
        local_stack.url, {"ChangeType": 2, "ContextIdentifier": "Cust777", "Token": token}
    )

    assert (status, answer["status"]) == (200, "accepted")
    assert oct((local_stack.state_dir / "signing-key.pem").stat().st_mode & 0o777) == "0o600"


def test_the_command_runs_once_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.local_stack",
            "--once",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "local"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "All six change types answered 200" in result.stdout
    assert "Traceback" not in result.stderr


def test_each_answer_while_serving_names_the_change_type_and_tenant(
    local_stack: LocalStack,
) -> None:
    lines: list[str] = []
    local_stack.on_response = lambda event, response: lines.append(answer_line(event, response))
    body = {"ChangeType": 2, "ContextIdentifier": "Cust777", "Token": local_stack.sign("Cust777")}

    post(local_stack.url, body)
    post(local_stack.url, b"[1, 2]")
    post(local_stack.url, {"ChangeType": 2, "ContextIdentifier": "Cust\n1", "Token": "x"})

    assert lines[0].startswith("  200  Suspend         Cust777    {")
    assert lines[1].startswith("  400  (not a notification) ")
    assert lines[1].endswith('"body_not_object","message":"The body must be a JSON object."}')
    assert lines[2].startswith("  400  Suspend         Cust\\n1    {")
