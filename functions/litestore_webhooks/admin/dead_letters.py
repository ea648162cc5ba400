"""An endpoint's dead-letter queue: peek (without consuming), redrive, purge.

Works with ReceiveMessage/SendMessage/DeleteMessage only (no StartMessageMoveTask, which
cannot pick messages and which moto lacks). Every message we receive is hidden for
HOLD_S; whatever we do not delete is made visible again before we answer, so a peek or a
partial redrive leaves the queue as it was. A crash mid-way costs nothing: the hold expires.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from litestore_webhooks.admin import common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws import queues
from litestore_webhooks.aws.store import Store
from litestore_webhooks.core.errors import ApiError

router = Router()
HOLD_S = 60  # longer than one API call can run (29 s)
BUDGET_S = 20.0  # scanning stops here; `remaining` tells the caller to call again
PEEK_MAX = 1000  # a queue has no pages, so one peek may return this many (about 0.4 MB; 100 receives in AWS)
_TAGS = ["dead letters"]


class Redrive(common.Body):
    ids: list[str] | None = Field(None, min_length=1, max_length=1000, description="Event ids; all when omitted")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None


def _event_id(body: str) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc.get("id") if isinstance(doc, dict) else None


def view(message: queues.Message) -> dict[str, Any]:
    a = message.attributes
    return {
        "id": _event_id(message.body),
        "messageId": message.message_id,
        "event": a.get(queues.EVENT),
        "reason": a.get(queues.REASON),
        "lastStatus": _int(a.get(queues.LAST_STATUS)),
        "lastError": a.get(queues.LAST_ERROR),
        "attempts": _int(a.get(queues.ATTEMPTS)),
        "firstAttemptAt": a.get(queues.FIRST_ATTEMPT_AT),
        "lastAttemptAt": a.get(queues.LAST_ATTEMPT_AT),
    }


def _receive_all(dlq_url: str, want: int) -> Iterator[list[queues.Message]]:
    """Batches of distinct, now hidden messages: until `want` (SQS's count when we began), an empty answer or the budget."""
    deadline = time.monotonic() + BUDGET_S
    seen: set[str] = set()
    while len(seen) < want and time.monotonic() < deadline:
        batch = [
            m
            for m in queues.receive(dlq_url, max_messages=want - len(seen), visibility_s=HOLD_S)
            if m.message_id not in seen
        ]
        if not batch:
            return
        seen.update(m.message_id for m in batch)
        yield batch


def peek(st: Store, endpoint_id: str, limit: int) -> dict[str, Any]:
    """Up to `limit` dead letters, left in the queue (approximateCount is SQS's own estimate)."""
    res = common.endpoint_or_404(st, endpoint_id)[1]
    depth = queues.depth(res.dlq_url)
    held = [m for batch in _receive_all(res.dlq_url, min(limit, depth.visible)) for m in batch]
    queues.release(res.dlq_url, held)
    return {"data": [view(m) for m in held], "approximateCount": depth.visible + depth.in_flight}


def redrive(st: Store, endpoint_id: str, ids: list[str] | None) -> dict[str, Any]:
    """Move dead letters (all, or those with these event ids) back to the endpoint queue, attempt count fresh.

    Each message is deleted from the DLQ only after its re-send succeeded; the re-sent
    message carries only the event type, so delivery starts again at attempt 1. Messages
    not chosen (or not sent) stay hidden until the scan ends, then are made visible again.
    """
    res = common.endpoint_or_404(st, endpoint_id)[1]
    wanted = set(ids) if ids is not None else None
    moved = failed = 0
    keep: list[queues.Message] = []
    for batch in _receive_all(res.dlq_url, queues.depth(res.dlq_url).visible):
        chosen = [m for m in batch if wanted is None or _event_id(m.body) in wanted]
        outcome = queues.send_batch(
            res.queue_url,
            [
                queues.OutgoingMessage(m.message_id, m.body, {queues.EVENT: m.attributes.get(queues.EVENT)})
                for m in chosen
            ],
        )
        sent = [m for m in chosen if outcome[m.message_id] is None]
        queues.delete(res.dlq_url, sent)
        moved, failed = moved + len(sent), failed + len(chosen) - len(sent)
        keep += [replace(m, body="") for m in batch if m not in sent]  # only the receipt handle is needed
    queues.release(res.dlq_url, keep)
    depth = queues.depth(res.dlq_url)
    return {"redriven": moved, "remaining": depth.visible + depth.in_flight, "failed": failed}


def purge(st: Store, endpoint_id: str) -> dict[str, Any]:
    """Empty the DLQ with PurgeQueue; `purged` is SQS's count just before (approximate on AWS)."""
    res = common.endpoint_or_404(st, endpoint_id)[1]
    depth = queues.depth(res.dlq_url)
    if not queues.purge(res.dlq_url):
        raise ApiError(409, "purge_in_progress", "SQS allows one purge per queue every 60 seconds; try again shortly")
    return {"purged": depth.visible + depth.in_flight + depth.delayed}


@router.get("/endpoints/<endpoint_id>/dead-letters", summary="Peek at dead letters without consuming them", tags=_TAGS)
def get_dead_letters(endpoint_id: str, limit: Annotated[int, Query(ge=1, le=PEEK_MAX)] = 50):  # noqa: ANN201 - not the body
    return json_response(200, peek(common.store(), endpoint_id, limit))


@router.post("/endpoints/<endpoint_id>/dead-letters/redrive", summary="Move dead letters back for delivery", tags=_TAGS)
def post_redrive(endpoint_id: str, request: Annotated[Redrive, BodyParam()] = Redrive()):  # noqa: ANN201
    return json_response(200, redrive(common.store(), endpoint_id, request.ids))


@router.delete("/endpoints/<endpoint_id>/dead-letters", summary="Purge dead letters (needs ?confirm=true)", tags=_TAGS)
def delete_dead_letters(endpoint_id: str, confirm: Annotated[bool, Query()] = False):  # noqa: ANN201
    if not confirm:
        raise ApiError(
            400,
            "confirmation_required",
            "purging deletes every dead letter for good; add ?confirm=true",
            [{"path": "query.confirm", "message": "must be true"}],
        )
    return json_response(200, purge(common.store(), endpoint_id))
