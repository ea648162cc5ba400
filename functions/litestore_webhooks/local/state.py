"""`--state FILE`: keep endpoints, the event-type catalog and undelivered messages across local runs.

The catalog is saved item by item as stored (types, their versions, tombstones) and written back
over the seed on restore, before the endpoints whose filters name its types.

Saved: each endpoint item as stored (id and health included, AWS ids dropped) and the
messages left in its queue and DLQ. The secrets are saved opened, in the item's plaintext
layout of before sealing: moto's KMS key is a new one in every run, so a sealed value would
not open after a restart. Restored: the item is written back and the Provisioner's
`reconcile` seals its secrets under this run's key and builds its queue, DLQ, subscription and
mapping afresh, then the messages are re-sent (a retry's `notBefore` attribute re-delays it on
arrival). The file holds endpoint secrets, so it is written 0600 (a temp file created 0600,
then renamed), as the CLI's local profile is.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

from litestore_webhooks import resources as r
from litestore_webhooks.aws import clients
from litestore_webhooks.aws.catalog import STAMP, CatalogStore
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.cli.profile import write_private
from litestore_webhooks.config import settings
from litestore_webhooks.local.invoke import LOCAL_ACCOUNT, region
from litestore_webhooks.local.moto_server import peek_messages
from litestore_webhooks.provisioning import (
    PLAINTEXT_HEADERS,
    RESOURCES,
    SEALED_SECRETS,
    Provisioner,
    load_endpoint,
    secrets_of,
)

log = logging.getLogger(__name__)
VERSION = 1


def _number(value: Any) -> int | float:
    """Nested DynamoDB numbers (e.g. retryPolicy's) are Decimals; keep them numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot save {type(value).__name__}")


def save(path: Path) -> dict[str, int]:
    """Write the state file atomically; returns counts for the log line."""
    cfg = settings()
    box = SecretBox(cfg.secrets_key_arn)
    endpoints: list[dict[str, Any]] = []
    messages = 0
    for item in Store(cfg).all_endpoint_items():
        opened = secrets_of(item, box).model_dump()
        opened[PLAINTEXT_HEADERS] = opened.pop("sensitiveHeaders")  # the item's own sensitiveHeaders stay REDACTED
        item = {**{k: v for k, v in item.items() if k not in (RESOURCES, SEALED_SECRETS)}, **opened}
        queued = peek_messages(r.endpoint_queue_name(cfg.prefix, item["id"]), account=LOCAL_ACCOUNT, region=region())
        dead = peek_messages(r.dead_letter_queue_name(cfg.prefix, item["id"]), account=LOCAL_ACCOUNT, region=region())
        messages += len(queued) + len(dead)
        endpoints.append({"item": item, "queue": queued, "deadLetters": dead})
    # Endpoint secrets: owner-only, as the CLI profile.
    catalog = [item for item in CatalogStore(cfg.event_types_table).dump() if item["pk"]["S"] != STAMP]
    write_private(
        path, json.dumps({"version": VERSION, "endpoints": endpoints, "catalog": catalog}, indent=1, default=_number)
    )
    return {"endpoints": len(endpoints), "messages": messages, "catalogItems": len(catalog)}


def restore(path: Path) -> dict[str, int]:
    """Re-provision saved endpoints and re-send their messages; no-op if the file is absent."""
    if not path.exists():
        return {"endpoints": 0, "messages": 0, "catalogItems": 0}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported state file version {doc.get('version')!r}")
    cfg = settings()
    store, sqs = Store(cfg), clients.client("sqs")
    provisioner = Provisioner(cfg, store, secrets=SecretBox(cfg.secrets_key_arn))
    messages = 0
    if "catalog" in doc:  # files from before the catalog have none: the seed stands
        CatalogStore(cfg.event_types_table).load(doc["catalog"])
    for saved in doc["endpoints"]:
        store.put_endpoint_item({**saved["item"], RESOURCES: {}}, must_exist=False)
        provisioner.reconcile(saved["item"]["id"])
        _, res = load_endpoint(store, saved["item"]["id"])  # type: ignore[misc]
        for url, batch in ((res.queue_url, saved["queue"]), (res.dlq_url, saved["deadLetters"])):
            for msg in batch:
                sqs.send_message(QueueUrl=url, MessageBody=msg["Body"], MessageAttributes=msg["MessageAttributes"])
            messages += len(batch)
    return {"endpoints": len(doc["endpoints"]), "messages": messages, "catalogItems": len(doc.get("catalog", []))}
