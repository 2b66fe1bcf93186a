"""Synthesizes the CDK app once, with the context in cdk.json, for every stack test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks.tenant_status_stack import TenantStatusStage

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("SOD", "Stage", "Production")


@dataclass(frozen=True)
class SynthesizedStage:
    name: str
    template: Template
    json: dict[str, Any]
    template_file: Path
    stack_name: str

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == kind}

    def only(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))


@pytest.fixture(scope="session")
def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


@pytest.fixture(scope="session")
def cloud_assembly_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="session")
def synthesized(
    cdk_context: dict[str, Any], cloud_assembly_dir: Path
) -> dict[str, SynthesizedStage]:
    outdir = cloud_assembly_dir
    app = build_app(cdk.App(context=cdk_context, outdir=str(outdir)))
    assembly = app.synth()
    stages: dict[str, SynthesizedStage] = {}
    for child in app.node.children:
        if isinstance(child, TenantStatusStage):
            stack = child.stack
            artifact = assembly.get_nested_assembly(child.artifact_id).get_stack_artifact(
                stack.artifact_id
            )
            stages[child.stage_name] = SynthesizedStage(
                name=child.stage_name,
                template=Template.from_json(artifact.template),
                json=artifact.template,
                template_file=Path(artifact.template_full_path),
                stack_name=artifact.stack_name,
            )
    return stages


@pytest.fixture(params=ENVIRONMENTS)
def stage(
    request: pytest.FixtureRequest, synthesized: dict[str, SynthesizedStage]
) -> SynthesizedStage:
    return synthesized[request.param]
