"""CloudFormation custom resource: seed the event-type catalog on stack Create and Update.

Writes the product document's types (and the system's own) that the catalog lacks, and replaces a
seeded type nobody edited when its seed changed compatibly; never an operator's edit or delete
(core/event_types/seed.py). Delete does nothing: the table, the operator's data, is kept or removed
by its own removal policy. The stack passes the seed's digest as a property, so a release whose
seed changed runs it again. Answered through cleanup.respond (no custom-resource framework function).

Resource properties: Prefix, TableName, SeedDigest.
"""

from __future__ import annotations

import logging
from typing import Any

from litestore_webhooks.aws.bootstrap import seed_catalog
from litestore_webhooks.handlers.cleanup import respond

log = logging.getLogger()
log.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> None:
    log.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    data: dict[str, Any] = {}
    try:
        if event.get("RequestType") in ("Create", "Update"):
            result = seed_catalog(event["ResourceProperties"]["TableName"])
            log.info("seeded %s; kept %s", result["written"], result["kept"])
            data = {"Written": len(result["written"]), "Kept": len(result["kept"])}
        status, reason = "SUCCESS", "ok"
    except Exception as exc:  # report every failure to CloudFormation instead of hanging it
        log.exception("seeding the catalog failed")
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    respond(
        event,
        context,
        status,
        f"{reason} (log stream {getattr(context, 'log_stream_name', '')})",
        data,
        physical_id="catalog-seed",
    )
