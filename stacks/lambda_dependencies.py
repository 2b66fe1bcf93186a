"""Builds the functions' third-party dependencies without Docker.

pip installs manylinux wheels for the functions' runtime and architecture into
a folder keyed by a hash of the pinned requirements, so a second synth reuses
it and two fresh clones produce the same asset hash. Source builds are refused.
Run as `python -m stacks.lambda_dependencies` to prebuild before going offline.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements-lambda.txt"
BUILD_ROOT = ROOT / ".build" / "lambda-dependencies"


@dataclass(frozen=True)
class Target:
    """What the wheels must fit: the runtime's Python and the function's processor."""

    python_version: str
    pip_platforms: tuple[str, ...]


ARM64_PYTHON_314 = Target(
    python_version="3.14",
    pip_platforms=("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
)


def content_hash(target: Target, requirements: Path = REQUIREMENTS) -> str:
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(target.python_version.encode())
    digest.update("\0".join(target.pip_platforms).encode())
    return digest.hexdigest()


def build(target: Target, requirements: Path = REQUIREMENTS) -> Path:
    """The folder to deploy as a layer (its `python/` holds the packages); built once."""
    output = BUILD_ROOT / content_hash(target, requirements)[:16]
    if (output / "python").is_dir():
        return output
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="building-", dir=BUILD_ROOT))
    command = [
        sys.executable, "-m", "pip", "install",
        "--quiet", "--disable-pip-version-check", "--no-compile", "--no-deps",
        "--only-binary=:all:", "--implementation", "cp",
        "--python-version", target.python_version,
        *(arg for platform in target.pip_platforms for arg in ("--platform", platform)),
        "--target", str(staging / "python"),
        "--requirement", str(requirements),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True)
        # Console scripts are useless in a layer and hold this machine's paths.
        shutil.rmtree(staging / "python" / "bin", ignore_errors=True)
        try:
            staging.rename(output)
        except OSError:
            # Another synth finished the same build first; its result is identical.
            if not (output / "python").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


if __name__ == "__main__":
    print(build(ARM64_PYTHON_314))
