"""Shared fixtures: a moto-backed AWS with the stack-level resources created from
`litestore_webhooks.resources` (the same definitions the CDK stack uses)."""

from __future__ import annotations

import os

import pytest

# Never let a test reach real AWS, and keep jsii quiet about Node 20.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION="1",
    JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION="1",
    JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="18,20",
    POWERTOOLS_METRICS_NAMESPACE="LitestoreWebhooks",
    POWERTOOLS_SERVICE_NAME="litestore-webhooks",
    POWERTOOLS_TRACE_DISABLED="1",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session", autouse=True)
def _cli_profile_in_tmp(tmp_path_factory):
    """LocalRuntime writes the CLI's local profile under XDG_CACHE_HOME: never into the real home."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def aws(monkeypatch):
    """A fresh moto AWS with tables and topic; yields the process Settings."""
    from moto import mock_aws

    from litestore_webhooks import config
    from litestore_webhooks.aws import bootstrap, clients

    with mock_aws():
        clients.reset()
        config.settings.cache_clear()
        for key, value in bootstrap.create_stack_resources().items():
            monkeypatch.setenv(key, value)
        config.settings.cache_clear()
        yield config.settings()
        clients.reset()
        config.settings.cache_clear()
