"""Measures the State Change URL's function against a floor: the least any such receiver does.

Cold init, warm handling, peak memory and the zipped deployment size, offline: DynamoDB is
answered by botocore's Stubber and the signing keys are pinned. It does not measure the Lambda
service, the network or DynamoDB itself, and it is not a load test.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jwt
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from botocore.stub import Stubber
from cryptography.hazmat.primitives.asymmetric import rsa

from tenant_status.change_types import STATUS_AFTER, ChangeType
from tenant_status.receiver import build_receiver
from tenant_status.settings import ReceiverSettings, VerifierSettings
from tenant_status.store import CLIENT_CONFIG

from .api_gateway import proxy_event
from .superoffice_standin import SigningKey

ROOT = Path(__file__).resolve().parent.parent
ISSUER = "https://sod.superoffice.com"
# Only ever handed to the key client, which fetches nothing at import; the reserved
# `.invalid` name makes a fetch that should not happen fail instead of going out.
JWKS_URL = "https://superoffice.invalid/login/.well-known/jwks"
REGION = "eu-west-1"
ENVIRONMENT = "Bench"
TABLE_NAME = "bench-tenant-status"
NOTIFY_PATH = "/NotifyCustomerStateChange"

GOALS: dict[str, float] = {
    "cold_init_ratio": 1.35,
    "warm_ratio": 2.0,
    "peak_mib_ratio": 1.25,
    "asset_zip_mib": 5.0,
}

MIB = 1024 * 1024
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183

# The cold children print their peak resident set (KiB on Linux) and nothing else. Both put
# the staged code first on sys.path, so both pay the same for every import lookup.
_SUBJECT_CHILD = """\
import resource, sys
sys.path.insert(0, sys.argv[1])
import tenant_status.receiver_function as function
if not function.__file__.startswith(sys.argv[1]):
    sys.exit('imported ' + function.__file__ + ', not the staged code asset')
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_FLOOR_CHILD = """\
import resource, sys
sys.path.insert(0, sys.argv[1])
import boto3, jwt
boto3.client('dynamodb')
jwt.PyJWKClient(sys.argv[2], cache_jwk_set=True, lifespan=3600, timeout=3)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


class BenchError(Exception):
    """The benchmark could not run; the message says what to do."""


@dataclass(frozen=True)
class Comparison:
    """One measurement taken for the subject and its floor, in pairs."""

    label: str
    subject: list[float]
    floor: list[float]

    def ratio(self) -> float:
        return statistics.median(self.subject) / statistics.median(self.floor)

    def pair_ratio(self) -> float:
        return statistics.median(s / f for s, f in zip(self.subject, self.floor, strict=True))


@dataclass(frozen=True)
class AssetPlan:
    """The function's code and its layer as the CDK stages them for deployment."""

    layer: Path
    code: Path


@dataclass(frozen=True)
class AssetSizes:
    code_files: list[Path]
    code_zip_bytes: int
    layer_files: int
    layer_zip_bytes: int
    native_libraries: int
    not_aarch64: list[str]

    @property
    def total_mib(self) -> float:
        return (self.code_zip_bytes + self.layer_zip_bytes) / MIB


def describe_assets(outdir: Path) -> dict[str, Any]:
    """Stages the receiver's code and layer into `outdir` with the stack's own constructs,
    so what is measured is what the CDK deploys. Run in a child, so that aws_cdk's Node
    process ends with it.
    """
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from stacks import lambda_dependencies, runtime
    from stacks.verifier import RECEIVER

    # FunctionCode pip-installs a missing layer; stage only one that is already built.
    target = runtime.DEPENDENCY_TARGET
    expected = lambda_dependencies.BUILD_ROOT / lambda_dependencies.content_hash(target)[:16]
    if not (expected / "python").is_dir():
        return {"layer": None, "expected_layer": str(expected)}
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Bench")
    code = runtime.FunctionCode(stack, "Code")
    lambda_.Function(
        stack,
        "Receiver",
        runtime=runtime.RUNTIME,
        architecture=runtime.ARCHITECTURE,
        handler=RECEIVER.handler,
        code=code.code,
        layers=[code.layer],
    )
    template = app.synth().get_stack_by_name("Bench").template
    # Each asset is staged as asset.<hash>, the name of the S3 key the resource points at.
    staged = {
        resource["Type"]: outdir / f"asset.{Path(key['S3Key']).stem}"
        for resource in template["Resources"].values()
        if (key := resource["Properties"].get("Code") or resource["Properties"].get("Content"))
    }
    layer = staged["AWS::Lambda::LayerVersion"]
    function_code = staged["AWS::Lambda::Function"]
    return {"layer": str(layer), "code": str(function_code)}


def _environ_with_pinned_node() -> dict[str, str]:
    environ = dict(os.environ)
    pinned = ROOT / "node_modules" / ".bin"
    if pinned.is_dir():
        environ["PATH"] = f"{pinned}{os.pathsep}{environ.get('PATH', '')}"
    return environ


def plan_assets(outdir: Path) -> AssetPlan:
    result = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--describe-assets", str(outdir)],
        cwd=ROOT,
        env=_environ_with_pinned_node(),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"could not stage the assets with stacks.runtime: {reason}")
    described = json.loads(lines[-1])
    if described["layer"] is None:
        layer = os.path.relpath(described["expected_layer"], ROOT)
        raise BenchError(f"the Lambda dependency layer {layer} is not built: run `make install`")
    return AssetPlan(layer=Path(described["layer"]), code=Path(described["code"]))


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def zipped_size(root: Path, files: Sequence[Path]) -> int:
    """Bytes of a zip of these files as the CDK CLI packs a folder: files only, deflated at
    zlib's default level."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in files:
            archive.write(root / relative, relative.as_posix())
    return buffer.tell()


def _elf_machine(path: Path) -> int | None:
    with path.open("rb") as file:
        header = file.read(20)
    if not header.startswith(ELF_MAGIC):
        return None
    return int.from_bytes(header[18:20], "little")


def measure_assets(plan: AssetPlan) -> AssetSizes:
    code_files = _files(plan.code)
    layer_files = _files(plan.layer)
    native: dict[str, int | None] = {}
    for relative in layer_files:
        machine = _elf_machine(plan.layer / relative)
        if machine is not None or relative.name.endswith(".so") or ".so." in relative.name:
            native[relative.as_posix()] = machine
    return AssetSizes(
        code_files=code_files,
        code_zip_bytes=zipped_size(plan.code, code_files),
        layer_files=len(layer_files),
        layer_zip_bytes=zipped_size(plan.layer, layer_files),
        native_libraries=len(native),
        not_aarch64=sorted(name for name, machine in native.items() if machine != EM_AARCH64),
    )


@dataclass(frozen=True)
class ColdStart:
    wall_s: float
    cpu_s: float
    peak_kib: int


def _function_environ() -> dict[str, str]:
    """What the stack sets for the function, plus what the Lambda service would provide."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "ENVIRONMENT_NAME": ENVIRONMENT,
        "TABLE_NAME": TABLE_NAME,
        "ACCEPTED_ISSUERS": json.dumps([ISSUER]),
        "JWKS_URL": JWKS_URL,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        # This machine's AWS profile files would be read at client creation; Lambda has none.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def cold_start(code: str, staged: Path) -> ColdStart:
    """One fresh interpreter, timed as a whole process from here: start-up, imports, exit."""
    # Limitation: the layer holds arm64 builds for Python 3.14, so children import PyJWT and
    # cryptography from this venv, with bytecode; on Lambda both sides would compile them too.
    # Running the children in the Lambda Python 3.14 arm64 image would lift it.
    command = [sys.executable, "-I", "-B", "-c", code, str(staged), JWKS_URL]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=staged,
        env=_function_environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"a cold start failed: {reason}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ColdStart(wall_s=wall, cpu_s=cpu, peak_kib=int(result.stdout.split()[-1]))


def measure_cold(staged: Path, runs: int) -> tuple[list[ColdStart], list[ColdStart]]:
    """Pairs of subject and floor, alternating which goes first; the first pair warms caches."""
    subject: list[ColdStart] = []
    floor: list[ColdStart] = []
    for pair in range(runs + 1):
        order = [(_SUBJECT_CHILD, subject), (_FLOOR_CHILD, floor)]
        if pair % 2:
            order.reverse()
        for code, results in order:
            measured = cold_start(code, staged)
            if pair:
                results.append(measured)
    return subject, floor


@dataclass(frozen=True)
class Delivery:
    """One notification as API Gateway hands it to the function, and its raw body."""

    event: dict[str, Any]
    body: str


def deliveries(key: SigningKey, count: int) -> list[Delivery]:
    """A fresh tenant and token for each, so no cache can answer for an earlier one."""
    made = []
    change_types = list(ChangeType)
    for index in range(count):
        change_type = change_types[index % len(change_types)]
        tenant = f"Cust{10000 + index}"
        document: dict[str, Any] = {
            "ChangeType": int(change_type),
            "ContextIdentifier": tenant,
            "VersionName": "Release 10.3 R02",
            "FileVersion": "10.3.2.1234",
            "Token": key.sign(issuer=ISSUER, context_identifier=tenant),
        }
        if change_type is ChangeType.Move:
            document["PublicEndpoint"] = "sod3.superoffice.com"
        body = json.dumps(document)
        event = proxy_event(
            method="POST",
            resource=NOTIFY_PATH,
            stage=ENVIRONMENT,
            headers={"Content-Type": "application/json"},
            body=body.encode(),
        )
        made.append(Delivery(event=event, body=body))
    return made


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FloorReceiver:
    """The least a receiver must do: read the body, verify the token, write one history item."""

    def __init__(self, public_key: rsa.RSAPublicKey, client: Any) -> None:
        self._key = public_key
        self._client = client
        self._serializer = TypeSerializer()

    def handle(self, body: str) -> None:
        document = json.loads(body)
        token = document["Token"]
        claims = jwt.decode(token, self._key, algorithms=["RS256"], issuer=ISSUER)
        change_type = ChangeType(document["ChangeType"])
        event_id = hashlib.sha256(token.encode()).hexdigest()[:32]
        tenant = document["ContextIdentifier"]
        # The same attributes as the function's history item, so both write as much.
        item = {
            "pk": f"TENANT#{tenant}",
            "sk": f"EVENT#{event_id}",
            "SchemaVersion": 1,
            "EventId": event_id,
            "Environment": ENVIRONMENT,
            "ChangeType": int(change_type),
            "ChangeTypeName": change_type.name,
            "ContextIdentifier": tenant,
            "VersionName": document.get("VersionName"),
            "FileVersion": document.get("FileVersion"),
            "PublicEndpoint": document.get("PublicEndpoint"),
            "Status": STATUS_AFTER[change_type].status,
            "Available": STATUS_AFTER[change_type].available,
            "IssuedAt": _iso(datetime.fromtimestamp(claims["iat"], UTC)),
            "ReceivedAt": _iso(datetime.now(UTC)),
            "Sequence": 1,
            "Superseded": False,
        }
        self._client.put_item(
            TableName=TABLE_NAME,
            Item={name: self._serializer.serialize(value) for name, value in item.items()},
            ConditionExpression="attribute_not_exists(pk)",
        )


def _stubbed_dynamodb(config: Config | None = None) -> Any:
    return boto3.client(
        "dynamodb",
        config=config,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106
    )


@contextmanager
def _function_log_to_devnull() -> Iterator[None]:
    """The function's INFO line is written, as on Lambda, but not onto this report."""
    logger = logging.getLogger("tenant_status")
    saved = (logger.level, logger.propagate)
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]


def measure_warm(iterations: int, warmup: int) -> Comparison:
    key = SigningKey.generate(kid="bench-1")
    total = warmup + iterations
    notifications = deliveries(key, total)

    # Each side's client as it would create it: the function's with its own configuration.
    subject_client = _stubbed_dynamodb(CLIENT_CONFIG)
    subject = build_receiver(
        ReceiverSettings(
            environment=ENVIRONMENT,
            table_name=TABLE_NAME,
            verifier=VerifierSettings(
                accepted_issuers=(ISSUER,), pinned_jwks={"keys": [key.public_jwk()]}
            ),
        ),
        subject_client,
    )
    floor_client = _stubbed_dynamodb()
    floor = FloorReceiver(key.private_key.public_key(), floor_client)

    subject_stub, floor_stub = Stubber(subject_client), Stubber(floor_client)
    for _ in range(total):
        # What the store asks for a tenant it has never seen: no state item, then the write.
        subject_stub.add_response("get_item", {})
        subject_stub.add_response("transact_write_items", {})
        floor_stub.add_response("put_item", {})

    subject_times: list[float] = []
    floor_times: list[float] = []
    responses: list[dict[str, Any]] = []

    def subject_turn(delivery: Delivery) -> None:
        responses.append(subject.handle(delivery.event))

    def floor_turn(delivery: Delivery) -> None:
        floor.handle(delivery.body)

    turns: list[tuple[list[float], Callable[[Delivery], None]]] = [
        (subject_times, subject_turn),
        (floor_times, floor_turn),
    ]
    with subject_stub, floor_stub, _function_log_to_devnull():
        for index, delivery in enumerate(notifications):
            # Alternating who goes first keeps either from always inheriting a warmer cache.
            for times, turn in turns if index % 2 == 0 else turns[::-1]:
                started = time.perf_counter()
                turn(delivery)
                times.append(time.perf_counter() - started)
        subject_stub.assert_no_pending_responses()
        floor_stub.assert_no_pending_responses()

    refused = [r for r in responses if r["statusCode"] != 200 or '"accepted"' not in r["body"]]
    if refused:
        raise BenchError(f"the function did not accept every notification: {refused[0]}")
    return Comparison(
        label="warm handling (us)",
        subject=[t * 1e6 for t in subject_times[warmup:]],
        floor=[t * 1e6 for t in floor_times[warmup:]],
    )


def missed_goals(results: dict[str, float]) -> list[str]:
    # Judged on the printed two decimals, so the verdict never contradicts the report.
    return [name for name, limit in GOALS.items() if round(results[name], 2) > limit]


def final_line(results: dict[str, float]) -> str:
    return " ".join(f"{name}={results[name]:.2f}" for name in GOALS)


def _spread(values: Sequence[float], digits: int) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / {middle:.{digits}f} / {high:.{digits}f}"


def _print_table(rows: Sequence[tuple[Comparison, int]]) -> None:
    header = ("", "subject min / median / max", "floor min / median / max", "ratio", "pairs")
    print("{:22} {:>29}   {:>27}   {:>5}  {:>5}".format(*header))
    for row, digits in rows:
        subject, floor = _spread(row.subject, digits), _spread(row.floor, digits)
        ratios = f"{row.ratio():5.2f}  {row.pair_ratio():5.2f}"
        print(f"{row.label:22} {subject:>29}   {floor:>27}   {ratios}")
    print("ratio: of the medians; pairs: median of the ratios within each pair")


def run(runs: int, iterations: int, warmup: int) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-assets-") as outdir:
        plan = plan_assets(Path(outdir))
        assets = measure_assets(plan)
        # The staged code holds no bytecode, and children run with -B: like Lambda, which
        # cannot write any, they compile the function's modules at every cold start.
        subject_cold, floor_cold = measure_cold(plan.code, runs)
    cold_wall = Comparison(
        "cold init wall (ms)",
        [c.wall_s * 1e3 for c in subject_cold],
        [c.wall_s * 1e3 for c in floor_cold],
    )
    cold_cpu = Comparison(
        "cold init CPU (ms)",
        [c.cpu_s * 1e3 for c in subject_cold],
        [c.cpu_s * 1e3 for c in floor_cold],
    )
    peak = Comparison(
        "peak RSS (MiB)",
        [c.peak_kib / 1024 for c in subject_cold],
        [c.peak_kib / 1024 for c in floor_cold],
    )
    warm = measure_warm(iterations, warmup)

    print(
        f"subject: tenant_status.receiver_function; floor: boto3 + PyJWT alone "
        f"(Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs)"
    )
    print(
        f"cold: {runs} pairs after one discarded, each a whole child process timed from here; "
        f"warm: {iterations} notifications after {warmup}, DynamoDB stubbed"
    )
    print()
    _print_table([(cold_wall, 1), (cold_cpu, 1), (peak, 1), (warm, 1)])
    print()
    print(
        f"asset zip (MiB): code {assets.code_zip_bytes / MIB:.2f} "
        f"({len(assets.code_files)} files) + layer {assets.layer_zip_bytes / MIB:.2f} "
        f"({assets.layer_files} files) = {assets.total_mib:.2f}"
    )
    wrong = len(assets.not_aarch64)
    print(f"native libraries in the layer: {assets.native_libraries}, {wrong} not aarch64 ELF")

    results = {
        "cold_init_ratio": cold_wall.ratio(),
        "warm_ratio": warm.ratio(),
        "peak_mib_ratio": peak.ratio(),
        "asset_zip_mib": assets.total_mib,
    }
    if not all(math.isfinite(v) and v > 0 for v in results.values()):
        raise BenchError(f"a measurement is not a positive number: {results}")
    print("goals (at most): " + ", ".join(f"{name} {limit:.2f}" for name, limit in GOALS.items()))
    failed = False
    for name in missed_goals(results):
        print(f"goal missed: {name}={results[name]:.2f}, goal <= {GOALS[name]:.2f}")
        failed = True
    if not assets.native_libraries:
        print("goal missed: the layer holds no native library, yet cryptography ships one")
        failed = True
    for name in assets.not_aarch64:
        print(f"goal missed: {name} in the layer is not an aarch64 ELF library")
        failed = True
    if not failed:
        print("every goal met")
    print(final_line(results))
    return 1 if failed else 0


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Compare the receiver function with a bare boto3 + PyJWT floor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=_at_least(1), default=15, help="paired cold starts")
    parser.add_argument(
        "--iterations", type=_at_least(1), default=300, help="warm notifications measured"
    )
    parser.add_argument(
        "--warmup", type=_at_least(0), default=30, help="warm notifications first, not measured"
    )
    parser.add_argument("--describe-assets", metavar="OUTDIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.describe_assets:
        print(json.dumps(describe_assets(Path(args.describe_assets))))
        return 0
    try:
        return run(args.runs, args.iterations, args.warmup)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
