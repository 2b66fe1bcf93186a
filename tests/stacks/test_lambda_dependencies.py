"""The functions' packages: built for arm64 without Docker, with hashes that do not drift."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from stacks import lambda_dependencies
from stacks.runtime import DEPENDENCY_TARGET, SOURCE_DIR, SOURCE_EXCLUDES

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183


def _elf_machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if not header.startswith(ELF_MAGIC):
        return None
    return int.from_bytes(header[18:20], "little")


def test_every_native_library_is_built_for_arm64() -> None:
    layer = lambda_dependencies.build(DEPENDENCY_TARGET) / "python"
    native = [p for p in layer.rglob("*") if p.is_file() and _elf_machine(p) is not None]

    assert native, "cryptography ships native code; none was found"
    assert {p.name: _elf_machine(p) for p in native} == {p.name: EM_AARCH64 for p in native}
    assert not any("x86_64" in p.name or "cpython-311" in p.name for p in native)


def test_the_layer_holds_the_pinned_packages() -> None:
    layer = lambda_dependencies.build(DEPENDENCY_TARGET) / "python"
    installed = {p.name.split("-")[0].lower() for p in layer.glob("*.dist-info")}

    assert installed == {"pyjwt", "cryptography", "cffi", "pycparser"}
    assert not (layer / "bin").exists()
    assert not (layer / "boto3").exists(), "boto3 comes with the Lambda runtime"


def _asset_hash(source: Path) -> str:
    stack = cdk.Stack(cdk.App(), "Hash")
    code = lambda_.Code.from_asset(str(source), exclude=SOURCE_EXCLUDES)
    lambda_.Function(stack, "F", runtime=lambda_.Runtime.PYTHON_3_14, handler="x.y", code=code)
    config = code.bind(stack)
    assert config.s3_location is not None
    return config.s3_location.object_key


def test_the_code_asset_hash_is_the_same_in_a_fresh_clone(tmp_path: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "lambda_src"],
        cwd=SOURCE_DIR.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    clone = tmp_path / "lambda_src"
    for name in tracked:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCE_DIR.parent / name, target)
    # What a developer's tree gathers that a fresh clone has not.
    (clone / "tenant_status" / "__pycache__").mkdir(exist_ok=True)
    (clone / "tenant_status" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (clone / "superoffice_tenant_status.egg-info").mkdir()

    assert _asset_hash(clone) == _asset_hash(SOURCE_DIR)


def test_the_dependency_hash_depends_only_on_the_pins_and_the_target(tmp_path: Path) -> None:
    copy = tmp_path / "requirements-lambda.txt"
    copy.write_bytes(lambda_dependencies.REQUIREMENTS.read_bytes())

    same = lambda_dependencies.content_hash(DEPENDENCY_TARGET, copy)
    copy.write_text(copy.read_text() + "six==1.16.0\n")

    assert same == lambda_dependencies.content_hash(DEPENDENCY_TARGET)
    assert lambda_dependencies.content_hash(DEPENDENCY_TARGET, copy) != same
