"""CDK entry point: one Stage per SuperOffice environment named in cdk.json."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import CONTEXT_KEY, ConfigError, parse_environments
from stacks.tenant_status_stack import TenantStatusStage


def build_app(app: cdk.App) -> cdk.App:
    for config in parse_environments(app.node.try_get_context(CONTEXT_KEY)):
        TenantStatusStage(app, config=config)
    # Synth, and so every deploy, fails on any finding that is not acknowledged
    # with a reason where the resource is defined.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    try:
        build_app(cdk.App()).synth()
    except ConfigError as exc:
        # What is wrong in cdk.json, in one line, rather than under a traceback.
        sys.exit(f"error: {exc}")
