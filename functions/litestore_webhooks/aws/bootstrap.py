"""Create the stack-level resources (tables, TTL, topic, secrets key, console key) outside CloudFormation,
and seed the event-type catalog as a deploy does (handlers/catalog_seed.py).

Used by the local runtime and the tests, from the same `resources` definitions the CDK
stack uses, so both see identical names, keys, indexes and TTL settings.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients

log = logging.getLogger(__name__)


def table_request(table: r.Table, prefix: str) -> dict[str, Any]:
    """CreateTable arguments for one table definition (on-demand, string keys)."""

    def key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
        return [{"AttributeName": pk, "KeyType": "HASH"}] + ([{"AttributeName": sk, "KeyType": "RANGE"}] if sk else [])

    attrs = {table.partition_key, *filter(None, [table.sort_key])}
    for ix in table.indexes:
        attrs |= {ix.partition_key, *filter(None, [ix.sort_key])}
    req: dict[str, Any] = {
        "TableName": table.name(prefix),
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(table.partition_key, table.sort_key),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
    }
    if table.indexes:
        req["GlobalSecondaryIndexes"] = [
            {
                "IndexName": ix.name,
                "KeySchema": key_schema(ix.partition_key, ix.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for ix in table.indexes
        ]
    return req


def secrets_key(prefix: str = r.DEFAULT_PREFIX) -> str:
    """The KMS key that seals endpoint secrets, found by its alias or created (rotation on, as deployed); its ARN."""
    kms = clients.client("kms")
    alias = r.secrets_key_alias(prefix)
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        pass
    key = kms.create_key(Description=f"{prefix}: seals endpoint signing secrets")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key["Arn"]


def create_stack_resources(prefix: str = r.DEFAULT_PREFIX) -> dict[str, str]:
    """Create (or find) the tables, the topic, the secrets key and the console key; returns the LSW_* environment
    to run with."""
    ddb = clients.client("dynamodb")
    existing = set(ddb.list_tables().get("TableNames", []))
    env: dict[str, str] = {"LSW_PREFIX": prefix}
    for table in r.TABLES:
        name = table.name(prefix)
        if name not in existing:
            ddb.create_table(**table_request(table, prefix))
            if table.ttl_attribute:
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        env[table.env_var] = name
    seed_catalog(env[r.EVENT_TYPES_TABLE.env_var], ddb)
    topic = clients.client("sns").create_topic(Name=r.topic_name(prefix))
    env["LSW_TOPIC_ARN"] = topic["TopicArn"]
    env[r.SECRETS_KEY_ENV] = secrets_key(prefix)
    env[r.CONSOLE_KEY_ENV] = _console_key(prefix)
    return env


def seed_catalog(table: str, ddb: Any = None) -> dict[str, Any]:
    """The document's event types (and the system's own) into the catalog, never over an operator's
    edit or delete (core/event_types/seed.py); what was written and what was kept, and why."""
    from litestore_webhooks.aws.catalog import CatalogStore

    plan = CatalogStore(table, ddb).seed(now=datetime.now(UTC))
    written = {w.change.event_type.name: w.action for w in plan.writes if w.change.event_type.name not in plan.kept}
    for name, why in sorted(plan.kept.items()):
        log.info("catalog seed kept %s: %s", name, why)
    return {"written": written, "kept": dict(plan.kept)}


def _console_key(prefix: str) -> str:
    """The console session key's secret (a fresh random value, as CloudFormation generates one)."""
    from litestore_webhooks.aws import console_key

    sm = clients.client("secretsmanager")
    name = r.console_key_secret_name(prefix)
    try:
        return sm.describe_secret(SecretId=name)["ARN"]
    except sm.exceptions.ResourceNotFoundException:
        return sm.create_secret(Name=name, SecretString=console_key.new_value())["ARN"]
