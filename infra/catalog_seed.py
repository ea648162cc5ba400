"""Seed the event-type catalog at deploy: a custom resource whose Create/Update writes the document's types.

The handler (functions/litestore_webhooks/handlers/catalog_seed.py) runs the same seed the local
runtime runs at start (aws/bootstrap.seed_catalog), so a deployed catalog and a local one start
alike; it never overwrites an operator's edit. `SeedDigest` changes with the seed's content, so a
release that changes the seed runs it again on update.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.cleanup import custom_resource_function
from infra.pipeline import SEED_TABLES, Pipeline
from litestore_webhooks import resources as r

HANDLER = "litestore_webhooks.handlers.catalog_seed.handler"


def seed_digest() -> str:
    """A digest of everything the seed writes (the document's types and the system's own)."""
    from litestore_webhooks.aws.catalog import seed_types

    content = [[draft.to_dict(), origin] for draft, origin in seed_types()]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


class CatalogSeed(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, pipeline: Pipeline) -> None:
        super().__init__(scope, construct_id)
        settings = pipeline.settings
        table = pipeline.tables[r.EVENT_TYPES_TABLE.construct_id]
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Seeds the event-type catalog on stack create and update",
        )
        pipeline.grant_tables(role, SEED_TABLES)
        self.function = custom_resource_function(
            self,
            pipeline,
            role,
            handler=HANDLER,
            timeout=Duration.minutes(2),
            description="Seeds the event-type catalog (never over an operator's edit)",
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type="Custom::LitestoreCatalogSeed",
            service_timeout=Duration.minutes(3),
            properties={"Prefix": settings.prefix, "TableName": table.table_name, "SeedDigest": seed_digest()},
            removal_policy=RemovalPolicy.DESTROY,
        )
