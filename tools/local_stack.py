"""The whole flow on loopback: SuperOffice stand-in -> API -> receiver -> table -> topics -> queue.

moto's server stands in for AWS; the table, topics and subscribed queue are
created from the same definitions the CDK stack uses, and the real receiver
and publisher handlers run in this process. Nothing here reaches AWS.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from jsonschema import Draft202012Validator
from moto.server import ThreadedMotoServer

from tenant_status import table
from tenant_status.change_types import TOPIC_KEYS, ChangeType, change_type_name
from tenant_status.publisher import Publisher
from tenant_status.receiver import build_receiver
from tenant_status.settings import PublisherSettings, ReceiverSettings, VerifierSettings
from tenant_status.store import CLIENT_CONFIG, from_attributes

from .api_gateway import ProxyServer
from .superoffice_standin import (
    LOCAL_ISSUER,
    JwksServer,
    SigningKey,
    load_local_signer,
    save_local_signer,
)

NOTIFY_PATH = "/NotifyCustomerStateChange"
ENVIRONMENT = "Local"
REGION = "eu-west-1"
NAME_PREFIX = "tenant-status-local"
ROOT = Path(__file__).resolve().parent.parent
# Written into the state directory while the stack runs; `tools.ops --local` reads it.
STACK_FILE = "stack.json"

logger = logging.getLogger("tools.local_stack")

# SuperOffice's documented examples first, then one per remaining change type.
EXAMPLES: tuple[dict[str, Any], ...] = (
    {
        "ChangeType": ChangeType.Upgrade,
        "ContextIdentifier": "Cust12345",
        "VersionName": "Release 8.4 R08",
        "FileVersion": "8.4.12.1234",
    },
    {
        "ChangeType": ChangeType.Move,
        "ContextIdentifier": "Cust12345",
        "VersionName": "Release_10.3.8_2024.08.30-01",
        "FileVersion": "10.3.8.2024",
        "PublicEndpoint": "sod3.superoffice.com",
    },
    {"ChangeType": ChangeType.BackupRestored, "ContextIdentifier": "Cust23456"},
    {"ChangeType": ChangeType.Suspend, "ContextIdentifier": "Cust34567"},
    {"ChangeType": ChangeType.Resume, "ContextIdentifier": "Cust34567"},
    {"ChangeType": ChangeType.Delete, "ContextIdentifier": "Cust56789"},
)
_RELEASE = {"VersionName": "Release_10.3.8_2024.08.30-01", "FileVersion": "10.3.8.2024"}


@dataclass
class Delivery:
    topic_key: str
    message: dict[str, Any]
    # The SNS message attributes, name to value, as filter policies see them.
    attributes: dict[str, str] = field(default_factory=dict)


def _one_transaction_at_a_time(client: Any, turn: threading.Lock) -> None:
    """Makes a client's DynamoDB transactions take turns, as DynamoDB's own are atomic.

    moto applies a transaction to the table, stream included, and puts a copy of the
    table back when a condition fails, without a lock: two at once can undo each
    other's writes, and a reader in between sees writes that never happened. Whoever
    else reads must take the same turn (the stream relay does).
    """

    def take(**_: Any) -> None:
        turn.acquire()

    def give(**_: Any) -> None:
        turn.release()

    events = client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", take)
    events.register("after-call.dynamodb.TransactWriteItems", give)
    events.register("after-call-error.dynamodb.TransactWriteItems", give)


@dataclass
class LocalStack:
    """Starts every piece on loopback; `stop()` tears them down."""

    state_dir: Path
    port: int = 0
    # An already running moto server to use; by default the stack starts its own.
    aws_endpoint: str | None = None
    # Called with every request the State Change URL takes and the answer it gives.
    on_response: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
    key: SigningKey = field(init=False)
    # The one turn that the receiver's transactions and the stream relay's reads take.
    _transaction_turn: threading.Lock = field(init=False, default_factory=threading.Lock)
    issuer: str = field(init=False, default=LOCAL_ISSUER)
    topic_arns: dict[str, str] = field(init=False, default_factory=dict)

    def start(self) -> LocalStack:
        """Starts every part; if one fails to start, the ones already running are stopped."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalStack:
        self._moto: ThreadedMotoServer | None = None
        endpoint = self.aws_endpoint
        if endpoint is None:
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            host, moto_port = self._moto.get_host_and_port()
            endpoint = f"http://{host}:{moto_port}"
        # moto accepts any credentials; these keep real ones from being picked up.
        self.aws_endpoint = endpoint
        session = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106
            region_name=REGION,
        )
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.streams = session.client("dynamodbstreams", endpoint_url=endpoint)
        self.sns = session.client("sns", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self._create_resources()
        # The function's client, configured as the function configures it.
        self.receiver_dynamodb = session.client(
            "dynamodb", endpoint_url=endpoint, config=CLIENT_CONFIG
        )
        _one_transaction_at_a_time(self.receiver_dynamodb, self._transaction_turn)

        loaded = load_local_signer(self.state_dir)
        self.key = loaded[0] if loaded else SigningKey.generate(kid="local-superoffice-1")
        save_local_signer(self.state_dir, self.key, self.issuer)
        self.jwks = JwksServer([self.key.public_jwk()]).start()

        self._receiver = build_receiver(
            ReceiverSettings(
                environment=ENVIRONMENT,
                table_name=self.table_name,
                verifier=VerifierSettings(
                    accepted_issuers=(self.issuer,), jwks_url=self.jwks.jwks_url
                ),
            ),
            self.receiver_dynamodb,
        )
        self.api = ProxyServer(
            stage=ENVIRONMENT,
            routes={("POST", NOTIFY_PATH): self._handle},
            port=self.port,
        ).start()
        publisher = Publisher(
            settings=PublisherSettings(
                environment=ENVIRONMENT,
                topic_arns=self.topic_arns,
                failure_queue_url=self.failure_queue_url,
            ),
            sns_client=self.sns,
            sqs_client=self.sqs,
        )
        self.relay = StreamRelay(
            self.streams, self.stream_arn, publisher, turn=self._transaction_turn
        ).start()
        self._write_stack_file()
        return self

    def _handle(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        response = self._receiver.handle(event)
        if self.on_response is not None:
            self.on_response(event, response)
        return response

    def stop(self) -> None:
        self._remove_stack_file()
        for part in ("relay", "api", "jwks"):
            if hasattr(self, part):
                getattr(self, part).stop()
        moto: ThreadedMotoServer | None = getattr(self, "_moto", None)
        if moto is not None:
            moto.stop()

    @property
    def url(self) -> str:
        return self.api.url_for(NOTIFY_PATH)

    def _remove_stack_file(self) -> None:
        """Only a file this stack wrote is removed: a second start that fails, say on a
        port in use, must not hide the stack that is still serving from the same directory.
        """
        if getattr(self, "_wrote_stack_file", False):
            (self.state_dir / STACK_FILE).unlink(missing_ok=True)
            self._wrote_stack_file = False

    def _write_stack_file(self) -> None:
        """Writes `stack.json`, where other tools find this stack while it runs."""
        path = self.state_dir / STACK_FILE
        description = {
            "url": self.url,
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "environment": ENVIRONMENT,
            "table_name": self.table_name,
            "topic_arns": self.topic_arns,
            "failure_queue_url": self.failure_queue_url,
        }
        # Written aside and renamed, so a reader never sees half a file.
        partial = path.with_name(f".{STACK_FILE}.partial")
        partial.write_text(json.dumps(description, indent=2) + "\n")
        partial.replace(path)
        self._wrote_stack_file = True

    def _create_resources(self) -> None:
        self.table_name = f"{NAME_PREFIX}-state"
        created = self.dynamodb.create_table(**table.create_table_arguments(self.table_name))
        self.stream_arn = created["TableDescription"]["LatestStreamArn"]
        self.queue_url = self.sqs.create_queue(QueueName=f"{NAME_PREFIX}-subscriber")["QueueUrl"]
        self.failure_queue_url = self.sqs.create_queue(QueueName=f"{NAME_PREFIX}-failures")[
            "QueueUrl"
        ]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for key in TOPIC_KEYS:
            arn = self.sns.create_topic(Name=f"{NAME_PREFIX}-{key}")["TopicArn"]
            self.topic_arns[key] = arn
            self.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)

    def sign(self, context_identifier: str, **kwargs: Any) -> str:
        return self.key.sign(issuer=self.issuer, context_identifier=context_identifier, **kwargs)

    def tenant_states(self) -> list[dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.table_name)["Items"]
        states = [from_attributes(i) for i in items]
        return sorted(
            (s for s in states if s[table.SORT_KEY] == table.STATE_SORT_KEY),
            key=lambda s: str(s["ContextIdentifier"]),
        )

    def item_count(self) -> int:
        return int(self.dynamodb.scan(TableName=self.table_name, Select="COUNT")["Count"])

    def receive(self, expected: int, timeout: float = 10.0) -> list[Delivery]:
        """Messages that reached the subscribed queue, with the topic each came from.

        Returns once `expected` messages arrived and the queue is momentarily empty,
        or after `timeout`. With `expected=0` it always waits the whole timeout, so
        an empty answer means nothing arrived in that time, not just "not yet".
        """
        topic_for_arn = {arn: key for key, arn in self.topic_arns.items()}
        deliveries: list[Delivery] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in batch:
                envelope = json.loads(message["Body"])
                _check_contract(json.loads(envelope["Message"]))
                deliveries.append(
                    Delivery(
                        topic_key=topic_for_arn.get(envelope["TopicArn"], envelope["TopicArn"]),
                        message=json.loads(envelope["Message"]),
                        attributes={
                            name: attribute["Value"]
                            for name, attribute in envelope.get("MessageAttributes", {}).items()
                        },
                    )
                )
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            if expected and len(deliveries) >= expected and not batch:
                break
            if not batch:
                time.sleep(0.1)
        return deliveries


_CONTRACT = Draft202012Validator(
    json.loads((ROOT / "schemas" / "tenant-event.schema.json").read_text())
)


def _check_contract(message: dict[str, Any]) -> None:
    """Every message read here, so every message in the tests, must fit the published schema."""
    problems = sorted(error.message for error in _CONTRACT.iter_errors(message))
    if problems:
        raise ValueError(f"a published message breaks the message contract: {problems}")


class StreamRelay:
    """Reads the table's stream and calls the publisher as Lambda's event source mapping would.

    Each pass offers, in stream order, the new event records not yet published;
    after a reported failure, the failed record and those behind it are offered
    again on the next pass. Every pass reads the stream from its start rather
    than from a saved position: when a transaction is cancelled (as a replay's
    is), moto rewrites the stream and reuses sequence numbers, so a saved
    position can skip a real event.
    """

    # Limitation: each pass reads the whole stream, so a local run slows as its stream
    # grows; fine for a session's worth of notifications, not for a soak test.
    def __init__(
        self, streams: Any, stream_arn: str, publisher: Publisher, *, turn: threading.Lock
    ) -> None:
        # Held while reading, so the stream is never read in the middle of a transaction.
        self._turn = turn
        self._streams = streams
        self._stream_arn = stream_arn
        self._publisher = publisher
        self._published: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StreamRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                failed = self._pass()
            except (ClientError, BotoCoreError) as exc:
                # Lambda's event source mapping keeps polling through errors too.
                logger.warning(json.dumps({"event": "stream_poll_failed", "error": str(exc)}))
                failed = True
            except Exception as exc:  # noqa: BLE001
                # The publisher crashed: Lambda retries the batch after a function
                # error, so the relay must not die with it.
                logger.warning(
                    json.dumps({"event": "publisher_crashed", "error": type(exc).__name__})
                )
                failed = True
            self._stop.wait(0.5 if failed else 0.1)

    def _pass(self) -> bool:
        """Offers the unpublished events once; True when the publisher reported a failure."""
        with self._turn:
            stream = self._read_stream()
        pending = [(k, r) for k, r in stream if k not in self._published]
        if not pending:
            return False
        for _, record in pending:
            record["eventSourceARN"] = self._stream_arn
        batch = {"Records": [record for _, record in pending]}
        failures = self._publisher.handle(batch)["batchItemFailures"]
        failed = failures[0]["itemIdentifier"] if failures else None
        for key, record in pending:
            if record["dynamodb"]["SequenceNumber"] == failed:
                break
            self._published.add(key)
        return failed is not None

    def _read_stream(self) -> list[tuple[str, dict[str, Any]]]:
        """Every record on the stream that inserts an event item, with that item's key."""
        description = self._streams.describe_stream(StreamArn=self._stream_arn)
        shard = description["StreamDescription"]["Shards"][0]["ShardId"]
        iterator: str | None = self._streams.get_shard_iterator(
            StreamArn=self._stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[tuple[str, dict[str, Any]]] = []
        while iterator:
            response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            batch = response.get("Records", [])
            if not batch:
                break
            for record in batch:
                key = _new_event_key(record)
                if key is not None:
                    records.append((key, record))
            iterator = response.get("NextShardIterator")
        return records


def _new_event_key(record: dict[str, Any]) -> str | None:
    """The event item's key for a record that inserts one, else None."""
    if record.get("eventName") != "INSERT":
        return None
    sort_key = record["dynamodb"]["Keys"][table.SORT_KEY]["S"]
    partition_key = record["dynamodb"]["Keys"][table.PARTITION_KEY]["S"]
    return f"{partition_key}/{sort_key}" if sort_key.startswith(table.EVENT_PREFIX) else None


def post(
    url: str, body: dict[str, Any] | bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    """POST a notification; returns the status and the decoded JSON answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def run_examples(stack: LocalStack, out: Any = sys.stdout) -> bool:
    """Posts every example plus one forgery, prints what happened; True when all went right."""
    ok = True
    print(f"\nPosting to {stack.url}\n", file=out)
    for example in EXAMPLES:
        body = {**_RELEASE, **example}
        body["ChangeType"] = int(example["ChangeType"])
        body["Token"] = stack.sign(str(body["ContextIdentifier"]))
        status, answer = post(stack.url, body)
        name = change_type_name(body["ChangeType"])
        print(f"  {status}  {name:<15} {body['ContextIdentifier']:<10} {answer}", file=out)
        ok &= status == 200 and answer.get("status") == "accepted"

    forger = SigningKey.generate(kid=stack.key.kid)
    forged = {
        "ChangeType": int(ChangeType.Delete),
        "ContextIdentifier": "Cust12345",
        "Token": forger.sign(issuer=stack.issuer, context_identifier="Cust12345"),
    }
    before = stack.item_count()
    status, answer = post(stack.url, forged)
    print(f"  {status}  forged Delete   Cust12345  {answer}", file=out)
    ok &= status == 401 and stack.item_count() == before

    print("\nTenant states:", file=out)
    for state in stack.tenant_states():
        print(
            f"  {state['ContextIdentifier']:<10} {state['Status']:<10} "
            f"last={state['LastChangeTypeName']:<15} endpoint={state.get('PublicEndpoint')} "
            f"seq={state['Sequence']}",
            file=out,
        )

    deliveries = stack.receive(expected=len(EXAMPLES))
    print("\nMessages on the subscribed queue:", file=out)
    for d in deliveries:
        m = d.message
        right = d.topic_key == m["ChangeTypeName"]
        print(
            f"  topic={d.topic_key:<15} {m['ChangeTypeName']:<15} {m['ContextIdentifier']:<10} "
            f"status={m['Status']:<10} seq={m['Sequence']} event={m['EventId'][:12]}"
            f"{'' if right else '  <-- WRONG TOPIC'}",
            file=out,
        )
        ok &= right
    sent = sorted(int(e["ChangeType"]) for e in EXAMPLES)
    ok &= sorted(d.message["ChangeType"] for d in deliveries) == sent
    ok &= len({d.message["EventId"] for d in deliveries}) == len(deliveries)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.local_stack",
        description="Run the tenant status webhook on loopback with moto standing in for AWS.",
    )
    parser.add_argument("--port", type=int, default=8787, help="port of the State Change URL")
    parser.add_argument("--state-dir", type=Path, default=Path(".local"))
    parser.add_argument("--once", action="store_true", help="post the examples, then exit")
    parser.add_argument(
        "--verbose", action="store_true", help="also print the functions' JSON log lines"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("tenant_status").setLevel(logging.INFO if args.verbose else logging.WARNING)

    try:
        stack = LocalStack(state_dir=args.state_dir, port=args.port).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"Port {args.port} is in use; choose another, e.g. make local PORT=8788")
            return 2
        raise
    try:
        ok = run_examples(stack)
        print(
            "\nAll six change types answered 200, stored and delivered from their topics."
            if ok
            else "\nSomething went wrong: see the lines above.",
        )
        print(f"Signing key, kid and issuer for your own notifications: {args.state_dir}/")
        if args.once:
            return 0 if ok else 1
        serve(stack)
    finally:
        stack.stop()
    return 0 if ok else 1


def answer_line(event: dict[str, Any], response: dict[str, Any]) -> str:
    """One request and its answer, as the examples are printed; any body is described."""
    try:
        body = json.loads(event.get("body") or "")
    except (ValueError, TypeError, RecursionError):
        body = None
    change_type, tenant = "(not a notification)", ""
    if isinstance(body, dict):
        value = body.get("ChangeType")
        if isinstance(value, int) and not isinstance(value, bool):
            change_type = change_type_name(value)
        tenant = str(body.get("ContextIdentifier", ""))[:40].encode("unicode_escape").decode()
    return f"  {response['statusCode']}  {change_type:<15} {tenant:<10} {response['body']}"


def serve(stack: LocalStack) -> None:
    """Prints each answer and each delivered message until interrupted."""
    stack.on_response = lambda event, response: print(answer_line(event, response), flush=True)
    # Stop as cleanly on a process manager's SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"\nServing the State Change URL {stack.url} (Ctrl-C to stop).")
    print(f"AWS stand-in (moto) at {stack.aws_endpoint}; subscribed queue {stack.queue_url}")
    try:
        while True:
            for d in stack.receive(expected=1, timeout=1.0):
                m = d.message
                print(
                    f"  delivered from topic {d.topic_key}: {m['ContextIdentifier']} "
                    f"status={m['Status']} seq={m['Sequence']} event={m['EventId']}",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\nStopped.")


if __name__ == "__main__":
    sys.exit(main())
