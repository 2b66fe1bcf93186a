"""The benchmark runs end to end with few runs and reports in its fixed format.

Timing goals are not asserted: on a loaded two-core machine they would make the tests flaky.
The deployed size, the report's format and the agreement of verdict and exit code are.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stacks import lambda_dependencies
from tools import bench

FINAL_LINE = re.compile(
    r"cold_init_ratio=(\d+\.\d\d) warm_ratio=(\d+\.\d\d) "
    r"peak_mib_ratio=(\d+\.\d\d) asset_zip_mib=(\d+\.\d\d)"
)


@pytest.fixture(scope="module")
def quick_run() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.bench", "--runs", "2", "--iterations", "40"],
        cwd=bench.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _results(run: subprocess.CompletedProcess[str]) -> dict[str, float]:
    last = run.stdout.rstrip("\n").splitlines()[-1]
    match = FINAL_LINE.fullmatch(last)
    assert match, f"last line {last!r}\n{run.stdout}{run.stderr}"
    return dict(zip(bench.GOALS, map(float, match.groups()), strict=True))


def test_the_report_ends_with_four_positive_numbers(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    results = _results(quick_run)

    assert all(math.isfinite(v) and v > 0 for v in results.values()), results
    for label in ("cold init wall (ms)", "peak RSS (MiB)", "warm handling (us)"):
        assert label in quick_run.stdout


def test_the_deployed_code_and_layer_fit_the_size_goal(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    assert _results(quick_run)["asset_zip_mib"] <= bench.GOALS["asset_zip_mib"]
    assert "0 not aarch64 ELF" in quick_run.stdout


def test_the_exit_code_says_whether_every_goal_was_met(
    quick_run: subprocess.CompletedProcess[str],
) -> None:
    missed = bench.missed_goals(_results(quick_run))

    assert quick_run.returncode == (1 if missed else 0), quick_run.stdout + quick_run.stderr
    assert ("every goal met" in quick_run.stdout) == (not missed)
    for name in missed:
        assert f"goal missed: {name}=" in quick_run.stdout


def test_a_result_just_over_a_goal_is_a_miss() -> None:
    results = {"cold_init_ratio": 1.36, "warm_ratio": 2.004, "peak_mib_ratio": 1.0}

    assert bench.missed_goals({**results, "asset_zip_mib": 5.01}) == [
        "cold_init_ratio",
        "asset_zip_mib",
    ]
    assert bench.final_line({**results, "asset_zip_mib": 4.2}) == (
        "cold_init_ratio=1.36 warm_ratio=2.00 peak_mib_ratio=1.00 asset_zip_mib=4.20"
    )


def test_a_missing_layer_is_reported_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lambda_dependencies, "BUILD_ROOT", tmp_path / "lambda-dependencies")

    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark must not build the layer")

    monkeypatch.setattr(subprocess, "run", no_pip)

    assert bench.describe_assets(tmp_path / "cdk.out")["layer"] is None


def test_a_missing_layer_stops_the_run_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    described = {"layer": None, "expected_layer": str(bench.ROOT / ".build" / "x")}

    def child(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, stdout=json.dumps(described), stderr="")

    monkeypatch.setattr(subprocess, "run", child)

    assert bench.main(["--runs", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "bench: the Lambda dependency layer .build/x is not built: run `make install`\n"


def test_the_measured_code_is_what_the_cdk_stages_without_the_trees_bytecode(
    tmp_path: Path,
) -> None:
    # What a developer's tree gathers, and the stack's excludes leave out.
    stray = bench.ROOT / "lambda_src" / "tenant_status" / "__pycache__" / "stray.cpython-311.pyc"
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"junk")
    try:
        plan = bench.plan_assets(tmp_path / "cdk.out")
    finally:
        stray.unlink()

    code = sorted(p.relative_to(plan.code).as_posix() for p in plan.code.rglob("*"))
    assert "tenant_status/receiver_function.py" in code
    assert not [name for name in code if "__pycache__" in name or name.endswith(".pyc")]
    assert (plan.layer / "python" / "jwt").is_dir()
