"""Operations commands for a local or deployed stack: send a signed notification, print a
tenant's state, republish its recorded events, judge a token as the verifier would, and
print the public key set of a test signing key.
It reads the table and publishes only what the table holds; it never writes or deletes
an item, and it signs only with keys it is given, never SuperOffice's.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import urllib.error
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NoReturn

import boto3
import jwt
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from stacks.config import CDK_JSON, ConfigError, environments_in, parse_environment
from stacks.config import stack_name as stack_name_for
from tenant_status import errors, table
from tenant_status.change_types import TOPIC_KEYS, ChangeType
from tenant_status.events import TenantEvent
from tenant_status.publisher import PERMANENT_REFUSALS, Publisher
from tenant_status.settings import PublisherSettings, VerifierSettings
from tenant_status.state_reader import STATE_FIELDS
from tenant_status.store import from_attributes, to_attributes
from tenant_status.verification import CONTEXT_CLAIM, TokenVerifier

from .local_stack import STACK_FILE, post
from .superoffice_standin import SigningKey, load_local_signer

PROG = "python -m tools.ops"
DEFAULT_LOCAL_DIR = Path(".local")
SIGNER_FILE = "signer.json"
# A stale stack.json points at a server that is gone: say so quickly, not after retries.
_LOCAL_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=30, retries={"max_attempts": 2})


class OpsError(Exception):
    """A problem the operator can fix; reported as one line, never as a traceback."""


@dataclass(frozen=True)
class Target:
    """Where one stack's table, topics and failure queue are, and how to reach them."""

    name: str
    environment: str
    table_name: str
    topic_arns: Mapping[str, str]
    failure_queue_url: str
    session: boto3.session.Session
    endpoint_url: str | None = None

    def client(self, service: Literal["dynamodb", "sns", "sqs"]) -> Any:
        config = _LOCAL_CLIENT_CONFIG if self.endpoint_url else None
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)


def read_stack_file(directory: Path) -> dict[str, Any]:
    path = directory / STACK_FILE
    try:
        description = json.loads(path.read_text())
    except FileNotFoundError:
        raise OpsError(
            f"{path} not found: start the local stack (make local) or pass the directory "
            "it runs in to --local-dir"
        ) from None
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {path}: {exc}") from None
    if not isinstance(description, dict):
        raise OpsError(f"{path} is not a JSON object; restart the local stack")
    return description


def local_target(directory: Path) -> Target:
    description = read_stack_file(directory)
    try:
        region = str(description["region"])
        return Target(
            name=f"local stack in {directory}",
            environment=str(description.get("environment", "Local")),
            table_name=str(description["table_name"]),
            topic_arns={str(k): str(v) for k, v in dict(description["topic_arns"]).items()},
            failure_queue_url=str(description["failure_queue_url"]),
            # moto accepts any credentials; these keep real ones out of a local run.
            session=boto3.session.Session(
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106
                region_name=region,
            ),
            endpoint_url=str(description["aws_endpoint"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise OpsError(
            f"{directory / STACK_FILE} is not as the local stack writes it "
            f"({type(exc).__name__}: {exc}); restart the stack to rewrite it"
        ) from None


def stage_target(stage: str, region: str | None) -> Target:
    session = boto3.session.Session(region_name=region)
    if session.region_name is None:
        raise OpsError("no AWS region: pass --region or set AWS_REGION")
    stack_name = stack_name_for(stage)
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise OpsError(
            f"cannot read stack {stack_name} in {session.region_name}: {message}"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    wanted = ["TableName", "FailureQueueUrl"]
    wanted += [f"TopicArn{key}" for key in TOPIC_KEYS]
    missing = [key for key in wanted if key not in outputs]
    if missing:
        raise OpsError(
            f"stack {stack_name} has no output {', '.join(missing)}; is it this project's "
            "stack, deployed from this version?"
        )
    return Target(
        name=f"stage {stage} ({stack_name}, {session.region_name})",
        environment=stage,
        table_name=outputs["TableName"],
        topic_arns={key: outputs[f"TopicArn{key}"] for key in TOPIC_KEYS},
        failure_queue_url=outputs["FailureQueueUrl"],
        session=session,
    )


def target_from(args: argparse.Namespace) -> Target:
    if args.stage is not None:
        return stage_target(args.stage, args.region)
    if args.region is not None:
        raise OpsError("--region only applies with --stage")
    return local_target(Path(args.local_dir))


# --- reading the table -----------------------------------------------------------------


def _json_value(value: Any) -> Any:
    """What DynamoDB's types become in the printed JSON."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted(_json_value(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    # boto3 wraps binary attributes in its own type, which has `value` bytes.
    raw = getattr(value, "value", None)
    if isinstance(raw, bytes):
        return raw.hex()
    raise TypeError(f"cannot print a {type(value).__name__}")


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=_json_value)


def read_state(target: Target, tenant: str) -> dict[str, Any] | None:
    response = target.client("dynamodb").get_item(
        TableName=target.table_name,
        Key=to_attributes(
            {table.PARTITION_KEY: table.tenant_key(tenant), table.SORT_KEY: table.STATE_SORT_KEY}
        ),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return from_attributes(item) if item else None


def _sequence(item: Mapping[str, Any]) -> int | None:
    try:
        return int(item["Sequence"])
    except (KeyError, TypeError, ValueError):
        return None


def read_history(target: Target, tenant: str) -> list[dict[str, Any]]:
    """The tenant's event items in Sequence order; items without one come last."""
    pages = (
        target.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=target.table_name,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": table.PARTITION_KEY, "#sk": table.SORT_KEY},
            ExpressionAttributeValues=to_attributes(
                {":pk": table.tenant_key(tenant), ":prefix": table.EVENT_PREFIX}
            ),
            ConsistentRead=True,
        )
    )
    items = [from_attributes(item) for page in pages for item in page.get("Items", [])]

    def order(item: dict[str, Any]) -> tuple[bool, int, str]:
        sequence = _sequence(item)
        return sequence is None, sequence or 0, str(item[table.SORT_KEY])

    return sorted(items, key=order)


def _unknown_tenant(tenant: str, target: Target) -> OpsError:
    return OpsError(f"no tenant {tenant} in {target.table_name} ({target.name})")


# --- commands -----------------------------------------------------------------------------


def _without_keys(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as its fields: the table's own keys say nothing the fields do not."""
    return {k: v for k, v in item.items() if k not in (table.PARTITION_KEY, table.SORT_KEY)}


def run_state(args: argparse.Namespace) -> int:
    target = target_from(args)
    state = read_state(target, args.tenant)
    if state is None:
        raise _unknown_tenant(args.tenant, target)
    # The fields the state API answers; the item's others only order notifications.
    state = {name: state.get(name) for name in STATE_FIELDS}
    if not args.history:
        print(_dumps(state))
        return 0
    history = [_without_keys(item) for item in read_history(target, args.tenant)]
    print(_dumps({"state": state, "history": history}))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    target = target_from(args)
    items = read_history(target, args.tenant)
    if not items and read_state(target, args.tenant) is None:
        raise _unknown_tenant(args.tenant, target)
    publisher = Publisher(
        settings=PublisherSettings(
            environment=target.environment,
            topic_arns=target.topic_arns,
            failure_queue_url=target.failure_queue_url,
        ),
        sns_client=target.client("sns"),
        sqs_client=target.client("sqs"),
    )

    published = skipped = 0
    for item in items:
        sequence = _sequence(item)
        if sequence is not None and sequence < args.from_sequence:
            continue
        try:
            event = TenantEvent.from_history_item(item)
        except (KeyError, TypeError, ValueError) as exc:
            # The stream parks such an item on the failure queue; here it is only reported.
            print(f"skipped      {item[table.SORT_KEY]}: not a publishable event item ({exc!r})")
            skipped += 1
            continue
        try:
            message_id = publisher.publish(event)
        except ClientError as exc:
            # Refused for what it is (too large, say): no retry helps, so report and go on,
            # as the stream parks it. Anything else may pass; stop, so the order holds.
            if exc.response.get("Error", {}).get("Code") in PERMANENT_REFUSALS:
                print(
                    f"skipped      seq={event.sequence:<4} event={event.event_id}: SNS refused it"
                )
                skipped += 1
                continue
            raise OpsError(
                f"publishing event {event.event_id} (seq={event.sequence}) failed after "
                f"{published} were republished: {exc}"
            ) from None
        except BotoCoreError as exc:
            raise OpsError(
                f"publishing event {event.event_id} (seq={event.sequence}) failed after "
                f"{published} were republished: {exc}"
            ) from None
        published += 1
        print(
            f"republished  seq={event.sequence:<4} {event.topic_key:<15} "
            f"{event.context_identifier}  event={event.event_id}  message={message_id}"
            f"{'  superseded' if event.superseded else ''}"
        )
    print(
        f"Republished {published} event{'' if published == 1 else 's'} of {args.tenant} "
        f"to their topics ({target.name})"
        + (f"; skipped {skipped} that cannot be published." if skipped else ".")
    )
    return 1 if skipped else 0


def _change_type(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        pass
    for change_type in ChangeType:
        if change_type.name.lower() == value.lower():
            return int(change_type)
    names = ", ".join(c.name for c in ChangeType)
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a change type: one of {names}, or a number"
    )


def _signer_defaults(directory: Path) -> dict[str, Any]:
    path = directory / SIGNER_FILE
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {path}: {exc}") from None
    if not isinstance(meta, dict):
        raise OpsError(f"{path} is not a JSON object")
    if "key_file" in meta:
        meta["key_file"] = directory / str(meta["key_file"])
    return meta


def _signing_key(args: argparse.Namespace, defaults: Mapping[str, Any]) -> SigningKey:
    """The key, with its kid, from --key and --kid or else the signer file's defaults."""
    signer_dir = Path(args.local_dir)
    key_path = args.key or defaults.get("key_file")
    kid = args.kid or defaults.get("kid")
    if key_path is None:
        raise OpsError(
            f"no signing key: pass --key PEM_FILE (no {signer_dir / SIGNER_FILE} to take "
            "one from; make local writes it)"
        )
    if not kid:
        raise OpsError(f"--kid is required: {signer_dir / SIGNER_FILE} does not give it")
    try:
        pem = Path(key_path).read_bytes()
        return SigningKey.from_pem(pem, str(kid))
    except OSError as exc:
        raise OpsError(f"cannot read the signing key {key_path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        # cryptography says TypeError for a key that needs a password.
        raise OpsError(f"{key_path} is not an unencrypted RSA private key in PEM: {exc}") from None


def _send_url(args: argparse.Namespace) -> str:
    if args.url is not None:
        return str(args.url)
    url = read_stack_file(Path(args.local_dir)).get("url")
    if not isinstance(url, str) or not url:
        raise OpsError(f"{Path(args.local_dir) / STACK_FILE} names no url; restart the stack")
    return url


def run_send(args: argparse.Namespace) -> int:
    # Where to post is checked first: a stopped local stack is the likelier mistake.
    url = None if args.dry_run else _send_url(args)
    defaults = _signer_defaults(Path(args.local_dir))
    key = _signing_key(args, defaults)
    issuer = args.issuer or defaults.get("issuer")
    if not issuer:
        raise OpsError(
            f"--issuer is required: {Path(args.local_dir) / SIGNER_FILE} does not give it"
        )
    token = key.sign(issuer=str(issuer), context_identifier=None if args.no_ctx else args.tenant)
    body: dict[str, Any] = {
        "ChangeType": args.change_type,
        "ContextIdentifier": args.tenant,
        "Token": token,
    }
    optional = {
        "VersionName": args.version_name,
        "FileVersion": args.file_version,
        "PublicEndpoint": args.public_endpoint,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    if url is None:
        print(json.dumps(body))
        return 0
    try:
        status, answer = post(url, body)
    except ValueError:
        raise OpsError(f"{url} answered with something that is not JSON") from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise OpsError(f"cannot reach {url}: {reason}") from None
    print(f"{status} {json.dumps(answer)}")
    return 0 if 200 <= status < 300 else 1


def run_jwks(args: argparse.Namespace) -> int:
    key = _signing_key(args, _signer_defaults(Path(args.local_dir)))
    print(json.dumps({"keys": [key.public_jwk()]}, indent=2))
    return 0


def _read_token(value: str) -> tuple[str, str | None]:
    """The token, and the tenant the notification names when given a whole body."""
    text = (sys.stdin.read() if value == "-" else value).strip()
    if not text.startswith("{"):
        return text, None
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("Token"), str):
        raise OpsError("the input starts like JSON but is not a notification body with a Token")
    tenant = body.get("ContextIdentifier")
    return body["Token"].strip(), tenant if isinstance(tenant, str) else None


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise OpsError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise OpsError(f"{path} is not JSON: {exc}") from None


def _environment_verifier_settings(name: str) -> VerifierSettings:
    """The settings the stack gives the verifier for one environment of cdk.json."""
    environments = environments_in(CDK_JSON)
    if not isinstance(environments, dict):
        environments = {}
    if name not in environments:
        known = ", ".join(environments) or "none"
        raise OpsError(f"no environment {name} in {CDK_JSON} (known: {known})")
    config = parse_environment(name, environments[name])
    return VerifierSettings(
        accepted_issuers=config.accepted_issuers,
        jwks_url=config.jwks_url,
        pinned_jwks=config.pinned_jwks,
        audience=config.audience,
    )


def _verifier_settings(args: argparse.Namespace) -> VerifierSettings:
    issuers: tuple[str, ...] = tuple(args.issuer or ())
    if args.env is not None:
        settings = _environment_verifier_settings(args.env)
        return VerifierSettings(
            accepted_issuers=issuers or settings.accepted_issuers,
            jwks_url=settings.jwks_url,
            pinned_jwks=settings.pinned_jwks,
            audience=args.audience or settings.audience,
        )
    if args.jwks is not None:
        if not issuers:
            raise OpsError("--issuer is required with --jwks: a key set does not name its issuer")
        jwks = _json_file(Path(args.jwks))
        if not isinstance(jwks, dict):
            raise OpsError(f'{args.jwks} is not a JSON Web Key Set: {{"keys": [...]}}')
        return VerifierSettings(accepted_issuers=issuers, pinned_jwks=jwks, audience=args.audience)
    directory = Path(args.local_dir)
    try:
        loaded = load_local_signer(directory)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise OpsError(f"cannot read the local signer in {directory}: {exc!r}") from None
    if loaded is None:
        raise OpsError(f"no {directory / SIGNER_FILE}: start the local stack (make local) first")
    key, local_issuer = loaded
    return VerifierSettings(
        accepted_issuers=issuers or (local_issuer,),
        pinned_jwks={"keys": [key.public_jwk()]},
        audience=args.audience,
    )


def _unverified_context(token: str) -> Any:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get(CONTEXT_CLAIM)
    except jwt.InvalidTokenError:
        return None


def run_inspect_token(args: argparse.Namespace) -> int:
    token, body_tenant = _read_token(args.token)
    settings = _verifier_settings(args)
    try:
        verifier = TokenVerifier(settings)
    except ValueError as exc:
        raise OpsError(str(exc)) from None
    # With neither --tenant nor a body, the ctx claim is compared with itself: not checked.
    tenant = args.tenant or body_tenant or _unverified_context(token)
    try:
        verified = verifier.verify(token, tenant)
    except errors.SigningKeysUnavailable:
        raise OpsError(
            f"the signing keys cannot be fetched from {settings.jwks_url}; the token cannot "
            "be judged"
        ) from None
    except errors.ContextMismatch as rejection:
        named_by = "--tenant" if args.tenant else "the body's ContextIdentifier"
        print(f"rejected: {rejection.reason}: the token's ctx claim is not {named_by} {tenant}")
        return 1
    except errors.Rejection as rejection:
        print(f"rejected: {rejection.reason}: {rejection.detail}")
        return 1
    header = jwt.get_unverified_header(token)
    print(_dumps({"header": header, "claims": dict(verified.claims)}))
    return 0


# --- the command line ---------------------------------------------------------------------


def _add_local_dir(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--local-dir",
        metavar="DIR",
        default=str(DEFAULT_LOCAL_DIR),
        help=f"where `make local` leaves {what} (default: %(default)s)",
    )


def _add_signing_options(parser: argparse.ArgumentParser) -> Any:
    """The key to sign with, as a group the command may add to."""
    signing = parser.add_argument_group("signing")
    signing.add_argument(
        "--key", metavar="PEM_FILE", help="RSA private key (default: from signer.json)"
    )
    signing.add_argument(
        "--kid", help="the key's kid in token headers (default: from signer.json)"
    )
    return signing


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (exactly one)").add_mutually_exclusive_group(
        required=True
    )
    group.add_argument(
        "--local",
        action="store_true",
        help="the stack `make local` runs, as described in --local-dir's stack.json",
    )
    group.add_argument(
        "--stage",
        metavar="NAME",
        help="a deployed environment: reads the outputs of the CloudFormation stack "
        "NAME-TenantStatus with your AWS credentials",
    )
    parser.add_argument(
        "--region", help="with --stage: the stack's AWS region (default: your AWS configuration)"
    )
    _add_local_dir(parser, "stack.json")


def _command(
    commands: Any,
    name: str,
    *,
    summary: str,
    description: str,
    examples: Sequence[str],
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {PROG} {example}" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


class _OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes too are one line (argparse's own error prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog=PROG,
        description="Operate the SuperOffice tenant status stack, local or deployed: send a "
        "signed\nnotification, print a tenant's state, republish its events, inspect a token, "
        "print\nthe key set of a test signing key.",
        epilog="examples:\n"
        f"  {PROG} state Cust12345 --history --local\n"
        f"  {PROG} replay Cust12345 --stage SOD --region eu-west-1\n"
        f"  {PROG} COMMAND --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    send = _command(
        commands,
        "send",
        summary="sign one notification and POST it to a State Change URL",
        description="Signs one tenant status notification with an RSA key and POSTs it, as "
        "SuperOffice would.\nPrints the HTTP status and the JSON answer; exits 0 on 2xx, 1 "
        "otherwise. The key,\nkid and issuer default to what `make local` leaves in .local/ "
        "(or in --local-dir).\nWith --dry-run it prints the body, token included, and posts "
        "nothing.",
        examples=[
            "send --local --tenant Cust12345 --change-type Suspend",
            "send --dry-run --tenant Cust12345 --change-type Resume > notification.json",
            "send --url https://abc.execute-api.eu-west-1.amazonaws.com/SOD/"
            "NotifyCustomerStateChange --key test.pem --kid test-1 "
            "--issuer https://sod.superoffice.com --tenant Cust12345 --change-type Move "
            "--public-endpoint sod3.superoffice.com",
        ],
        run=run_send,
    )
    where = send.add_argument_group("where (exactly one)").add_mutually_exclusive_group(
        required=True
    )
    where.add_argument("--url", help="the State Change URL to post to")
    where.add_argument(
        "--local", action="store_true", help="post to the local stack described in stack.json"
    )
    where.add_argument(
        "--dry-run",
        action="store_true",
        help="print the signed notification's JSON body instead of posting it",
    )
    _add_local_dir(send, "stack.json and the signer (key, kid and issuer)")
    signing = _add_signing_options(send)
    signing.add_argument("--issuer", help="the token's iss claim (default: from signer.json)")
    signing.add_argument(
        "--no-ctx", action="store_true", help="leave the tenant (ctx) claim out of the token"
    )
    body = send.add_argument_group("notification")
    body.add_argument("--tenant", required=True, help="ContextIdentifier, e.g. Cust12345")
    body.add_argument(
        "--change-type",
        required=True,
        type=_change_type,
        help="Upgrade, BackupRestored, Suspend, Resume, Delete, Move, or a number",
    )
    body.add_argument("--public-endpoint", help="PublicEndpoint, e.g. sod3.superoffice.com")
    body.add_argument("--version-name", help="VersionName")
    body.add_argument("--file-version", help="FileVersion")

    state = _command(
        commands,
        "state",
        summary="print a tenant's current state (and its history) from the table",
        description="Prints the tenant's state item as JSON; with --history, an object with "
        'the state and\nits event items in Sequence order: {"state": ..., "history": [...]}.\n'
        "An unknown tenant is an error (exit 1).",
        examples=["state Cust12345 --local", "state Cust12345 --history --stage SOD"],
        run=run_state,
    )
    state.add_argument("tenant", metavar="TENANT", help="ContextIdentifier, e.g. Cust12345")
    state.add_argument("--history", action="store_true", help="also print the event items")
    _add_target_options(state)

    replay = _command(
        commands,
        "replay",
        summary="republish a tenant's recorded events to their topics",
        description="Publishes the tenant's recorded events again, in Sequence order, each to "
        "its change\ntype's topic, with the message exactly as first published (same EventId: "
        "subscribers\ndeduplicate on it). It writes nothing to the table, so it can be run "
        "again. Exits 1\nif an event item cannot be published (it is reported and skipped).",
        examples=[
            "replay Cust12345 --local",
            "replay Cust12345 --from-sequence 4 --stage Production --region eu-west-1",
        ],
        run=run_replay,
    )
    replay.add_argument("tenant", metavar="TENANT", help="ContextIdentifier, e.g. Cust12345")
    replay.add_argument(
        "--from-sequence",
        metavar="N",
        type=int,
        default=1,
        help="republish only events with Sequence N or later (default: all)",
    )
    _add_target_options(replay)

    inspect = _command(
        commands,
        "inspect-token",
        summary="verify a token offline as the verifier would and print its header and claims",
        description="Verifies a notification token with the verifier's own code and prints "
        "its header and\nclaims as JSON. A refused token prints `rejected: <reason>: <detail>` "
        "and exits 1.\nGiven a whole notification body, its Token is judged against its "
        "ContextIdentifier;\ngiven a bare token, against --tenant, or its ctx claim is not "
        "compared with anything.\n--env fetches the environment's keys unless cdk.json pins "
        "them; --jwks never fetches.",
        examples=[
            "inspect-token --local - < notification.json",
            "inspect-token eyJ... --local --tenant Cust12345",
            "inspect-token - --jwks keys.json --issuer https://sod.superoffice.com < token.txt",
            "inspect-token eyJ... --env SOD",
        ],
        run=run_inspect_token,
    )
    inspect.add_argument(
        "token",
        metavar="TOKEN",
        help="the JWT or a notification body holding it, or - to read either from stdin",
    )
    keys = inspect.add_argument_group("keys (exactly one)").add_mutually_exclusive_group(
        required=True
    )
    keys.add_argument("--jwks", metavar="FILE", help="a JSON Web Key Set file; nothing is fetched")
    keys.add_argument(
        "--env",
        metavar="NAME",
        help="an environment in cdk.json: its pinned keys, else its JWKS URL (fetched), "
        "and its issuers and audience",
    )
    keys.add_argument("--local", action="store_true", help="the local stand-in's key and issuer")
    _add_local_dir(inspect, "the local stand-in's key and issuer")
    inspect.add_argument(
        "--issuer",
        action="append",
        help="an accepted issuer, instead of the key source's; repeat for several",
    )
    inspect.add_argument("--audience", help="require this audience, e.g. spn:<application id>")
    inspect.add_argument("--tenant", help="the ContextIdentifier the token's ctx claim must name")

    keyset = _command(
        commands,
        "jwks",
        summary="print the public JSON Web Key Set of a signing key, for pinned_jwks",
        description="Prints the public half of an RSA signing key as a JSON Web Key Set, to "
        "pin in cdk.json\n(pinned_jwks) for a test stage that `send` then posts to. The key "
        "and kid default to\nthe local stand-in's in .local/.",
        examples=["jwks", "jwks --key test.pem --kid test-1 > test-jwks.json"],
        run=run_jwks,
    )
    _add_signing_options(keyset)
    _add_local_dir(keyset, "the signer (key and kid)")
    return parser


def _error(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Points stdout at /dev/null so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except OpsError as exc:
        return _error(str(exc))
    except EndpointConnectionError as exc:
        return _error(f"{exc} (is the stack still running?)")
    except (ClientError, BotoCoreError) as exc:
        return _error(f"AWS: {exc}")
    except ConfigError as exc:
        return _error(str(exc))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        _silence_stdout()
        return 1
    except OSError as exc:
        # urllib's URLError is an OSError: the URL could not be reached at all.
        return _error(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        return _error("interrupted")
    except Exception as exc:  # noqa: BLE001
        # The promise is one line and no traceback, even for what was not foreseen.
        return _error(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
