"""Endpoint provisioning: the item, its queue and DLQ, its subscription, its event source mapping.

One module for the admin API, the local runtime and the tests. Every step is an "ensure":
it looks at what exists (recorded ids first, then deterministic names / lookups) and only
creates or corrects what is missing or different. So create, reconcile and a re-run after a
crash half-way all converge on the same state.

Order on create: the endpoint item first (so a crash leaves something `reconcile` can find;
a create that fails with an error takes back what it made),
then DLQ, queue, subscription and mapping, recording their ids in the item's `resources` map
as they appear; the queue is recorded before the subscription exists, so any message that
reaches delivery belongs to an item that knows its queue. Delete runs the other way round
and removes the subscription first: SNS must never publish into a deleted queue. Update, pause
and resume change the resources first and the item last, putting the resources back if either
fails: deliveries read the item, so it never says what the resources do not do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from litestore_webhooks import resources as r
from litestore_webhooks.aws import bus, queues
from litestore_webhooks.aws.event_sources import EventSources
from litestore_webhooks.aws.event_sources import current as current_event_sources
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import NameTaken, Store
from litestore_webhooks.config import Settings
from litestore_webhooks.core.endpoint import (
    ENDPOINT_ID_PATTERN,
    Endpoint,
    EndpointSpec,
    SigningSecrets,
    filter_policy,
    name_key,
    utc_iso,
)
from litestore_webhooks.core.errors import ApiError, ValidationFailed
from litestore_webhooks.core.headers import check_together, map_problems, redacted

logger = Logger(child=True)
RESOURCES = "resources"  # the endpoint item's map attribute holding the AWS ids
SEALED_SECRETS = "sealedSecrets"  # the endpoint item's SigningSecrets, sealed (aws/kms.py)
# Items written before secrets were sealed hold them in plaintext under these names: still
# read, and sealed (these removed) by the next admin write of the endpoint (Provisioner).
# The local runtime's state file holds sensitive header values in plaintext under PLAINTEXT_HEADERS,
# apart from the item's own sensitiveHeaders (names, values REDACTED); restore seals them too.
PLAINTEXT_HEADERS = "sensitiveHeaderValues"
PLAINTEXT_SECRETS = ("secret", "previousSecrets", PLAINTEXT_HEADERS)
UPDATABLE = frozenset(
    {
        "url",
        "events",
        "retryPolicy",
        "timeout",
        "maxConcurrency",
        "active",
        "description",
        "name",
        "rateLimit",
        "headers",
        "sensitiveHeaders",
    }
)
LOCAL_INSECURE_HINT = (
    "To deliver to http:// or loopback URLs on this machine, restart the local runtime with --allow-insecure-endpoints."
)
_HEADER_MAP = TypeAdapter(dict[str, str], config={"strict": True})
_HEALTH_RESET = {"pausedReason": None, "failingSince": None, "consecutiveFailures": 0}


@dataclass(frozen=True)
class EndpointResources:
    """AWS ids of one endpoint's pipeline; empty strings / None until provisioned."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    subscription_arn: str | None
    mapping_id: str | None

    @classmethod
    def from_item(cls, stored: dict[str, Any] | None) -> EndpointResources:
        stored = stored or {}
        return cls(
            stored.get("queueUrl", ""),
            stored.get("queueArn", ""),
            stored.get("dlqUrl", ""),
            stored.get("dlqArn", ""),
            stored.get("subscriptionArn"),
            stored.get("mappingId"),
        )

    def to_item(self) -> dict[str, str]:
        values = {
            "queueUrl": self.queue_url,
            "queueArn": self.queue_arn,
            "dlqUrl": self.dlq_url,
            "dlqArn": self.dlq_arn,
            "subscriptionArn": self.subscription_arn,
            "mappingId": self.mapping_id,
        }
        return {k: v for k, v in values.items() if v}


_UNPROVISIONED = EndpointResources("", "", "", "", None, None)


def _split(item: dict[str, Any]) -> tuple[Endpoint, EndpointResources]:
    item = dict(item)
    stored = item.pop(RESOURCES, None)
    return Endpoint.from_item(item), EndpointResources.from_item(stored)


def load_endpoint_item(store: Store, endpoint_id: str) -> dict[str, Any] | None:
    """The endpoint's item as stored (consistent read), or None if there is no such endpoint."""
    if not re.fullmatch(ENDPOINT_ID_PATTERN, endpoint_id):
        return None  # never stored; and DynamoDB refuses empty or over-2 KB keys (a 500, not a 404)
    return store.get_endpoint_item(endpoint_id)


def load_endpoint(store: Store, endpoint_id: str) -> tuple[Endpoint, EndpointResources] | None:
    """The endpoint and its AWS ids (consistent read), or None if there is no such endpoint."""
    item = load_endpoint_item(store, endpoint_id)
    return None if item is None else _split(item)


def load_endpoint_and_secrets(
    store: Store,
    box: SecretBox,
    endpoint_id: str,
) -> tuple[Endpoint, EndpointResources, SigningSecrets] | None:
    """What a delivery needs, from one consistent read: the endpoint, its AWS ids and its secrets."""
    item = load_endpoint_item(store, endpoint_id)
    return None if item is None else (*_split(item), secrets_of(item, box))


def secrets_of(item: dict[str, Any], box: SecretBox) -> SigningSecrets:
    """An endpoint item's secrets: opened with `box`, or as stored by a version that did not seal them."""
    if SEALED_SECRETS in item:
        return box.open(item["id"], item[SEALED_SECRETS])
    plain = {k: item[k] for k in PLAINTEXT_SECRETS if k in item}
    plain["sensitiveHeaders"] = plain.pop(PLAINTEXT_HEADERS, {})
    return SigningSecrets.model_validate(plain)


def sealing(box: SecretBox, item: dict[str, Any], secrets: SigningSecrets) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes that store `secrets` sealed in the endpoint `item` was read as, and the condition
    that it still holds the secrets it was read with (a plaintext item loses its plaintext attributes)."""
    expected = {SEALED_SECRETS: item[SEALED_SECRETS]} if SEALED_SECRETS in item else {"secret": item["secret"]}
    return {SEALED_SECRETS: box.seal(item["id"], secrets), **dict.fromkeys(PLAINTEXT_SECRETS)}, expected


def save_secrets(store: Store, box: SecretBox, item: dict[str, Any], secrets: SigningSecrets, **fields: Any) -> None:
    """Seal `secrets` into the endpoint, only while it holds the secrets `item` was read with (else 409).

    So two concurrent rotations cannot both report success while one of their secrets is lost.
    """
    sealed, expected = sealing(box, item, secrets)
    store.update_endpoint_fields_if(item["id"], {**sealed, **fields}, expected)


def validate_spec(doc: Any, settings: Settings) -> EndpointSpec:
    """The one validation of a submitted endpoint, under the deployment's URL rules (allow_insecure).

    Raises pydantic.ValidationError: the admin API's body model (admin/endpoints.NewEndpoint)
    delegates here so Powertools reports it in its own request-validation shape;
    `Provisioner.parse_spec` converts it to ValidationFailed.
    """
    context = {**url_rules(settings, settings.allow_insecure), "catalog": catalog_for(settings)}
    return EndpointSpec.model_validate(doc, context=context)


def catalog_for(settings: Settings, store: Store | None = None) -> Any:
    """The stored catalog endpoint filters are checked against (namespace wildcards included)."""
    from litestore_webhooks.aws.catalog import CatalogStore

    catalog = CatalogStore(settings.event_types_table, store.ddb if store else None)
    return catalog.snapshot(accept_unknown=settings.accept_unknown_event_types)


def url_rules(settings: Settings, allow_insecure: bool) -> dict[str, Any]:
    """The validation context for endpoint URLs. On a local runtime started without
    --allow-insecure-endpoints, a URL that flag would admit is refused with a message naming it
    (curl users see the API's answer, not the CLI's)."""
    if settings.local_runtime and not allow_insecure:
        return {"allow_insecure": False, "insecure_hint": LOCAL_INSECURE_HINT}
    return {"allow_insecure": allow_insecure}


def _name_taken(name: str, holder: str) -> ApiError:
    """409: names are unique (case and spacing aside), because the CLI and `endpoints apply` go by them."""
    return ApiError(
        409,
        "name_taken",
        f"an endpoint named {name!r} already exists ({holder}); rename it or use a different name",
        {"name": name, "endpointId": holder},
    )


def _sensitive_headers(value: Any, plain: Any) -> dict[str, str]:
    """A PATCH's sensitiveHeaders, checked as on create (with the plain headers it will sit next to)."""
    try:
        values = _HEADER_MAP.validate_python(value)
    except ValidationError as exc:
        raise ValidationFailed(
            [{"path": ".".join(map(str, ("sensitiveHeaders", *e["loc"]))), "message": e["msg"]} for e in exc.errors()]
        ) from None
    problems = [("sensitiveHeaders", p) for p in map_problems(values, sensitive=True)]
    if isinstance(plain, dict) and not problems:
        problems += [("", p) for p in check_together(plain, values)]
    if problems:
        raise ValidationFailed([{"path": path, "message": message} for path, message in problems])
    return values


def _validation_failed(exc: ValidationError) -> ValidationFailed:
    return ValidationFailed(
        [
            {"path": ".".join(map(str, e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
            for e in exc.errors()
        ]
    )


class Provisioner:
    """`secrets`: the admin API passes its SecretBox, and then a plaintext item (written before
    secrets were sealed) that it reads to change is sealed first; delivery, which only pauses
    (410, auto-pause) and may not encrypt, passes none. Create seals with it, else with a box
    for the settings' key."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        event_sources: EventSources | None = None,
        secrets: SecretBox | None = None,
    ):
        self.settings = settings
        self.store = store or Store(settings)
        self.event_sources = event_sources or current_event_sources()
        self.secrets = secrets

    # -- input -------------------------------------------------------------------------
    def parse_spec(self, doc: Any) -> EndpointSpec:
        """A submitted endpoint, validated under this deployment's URL rules (allow_insecure)."""
        try:
            return validate_spec(doc, self.settings)
        except ValidationError as exc:
            raise _validation_failed(exc) from None

    # -- lifecycle ---------------------------------------------------------------------
    def create(self, spec: EndpointSpec) -> Endpoint:
        """Store the endpoint, its secret sealed, then provision its pipeline (build `spec` with `parse_spec`)."""
        endpoint = Endpoint.from_spec(spec)
        box = self.secrets or SecretBox(self.settings.secrets_key_arn)
        sealed = box.seal(endpoint.id, SigningSecrets(secret=spec.secret, sensitiveHeaders=spec.sensitiveHeaders))
        try:
            self.store.create_endpoint_item(
                {**endpoint.to_item(), SEALED_SECRETS: sealed, RESOURCES: {}}, name_key=name_key(endpoint.name)
            )
        except NameTaken as exc:
            raise _name_taken(endpoint.name, exc.endpoint_id) from None
        try:
            self._converge(endpoint, _UNPROVISIONED)
        except Exception:
            self._undo_create(endpoint.id)
            raise
        return endpoint

    def _undo_create(self, endpoint_id: str) -> None:
        """A create that failed takes back what it made, its name's claim included, so that a retry of
        the same request succeeds. Should that fail too (or the process die first), the endpoint stays
        for `reconcile` to finish or `delete` to remove; the error answered is the create's own."""
        try:
            self.delete(endpoint_id)
        except Exception:  # noqa: BLE001 - the first failure is the one to answer; this one is logged
            logger.exception("taking back a failed create failed", extra={"endpointId": endpoint_id})

    def update(self, endpoint_id: str, changes: dict) -> Endpoint:
        """Apply a camelCase partial update (retryPolicy is replaced whole) and re-provision in place."""
        if not isinstance(changes, dict):
            raise ValidationFailed([{"path": "", "message": "expected object"}])
        unknown = sorted(set(changes) - UPDATABLE)
        if unknown:
            raise ValidationFailed([{"path": k, "message": "unknown or read-only field"} for k in unknown])
        item = self._item(endpoint_id)
        endpoint, res = _split(item)
        revision = dict(changes)
        if changes.get("active") is True and not endpoint.active:
            revision.update(_HEALTH_RESET)
        elif changes.get("active") is False and endpoint.active:
            revision["pausedReason"] = "manual"
        sealed: tuple[dict[str, Any], dict[str, Any]] | None = None
        if "sensitiveHeaders" in changes:  # the values go sealed with the secrets; the item keeps names only
            values = _sensitive_headers(changes["sensitiveHeaders"], changes.get("headers", endpoint.headers))
            revision["sensitiveHeaders"] = redacted(values)
            box = self.secrets or SecretBox(self.settings.secrets_key_arn)
            sealed = sealing(box, item, secrets_of(item, box).model_copy(update={"sensitiveHeaders": values}))
        return self._apply(endpoint, res, revision, self._converge, sealed=sealed)

    def delete(self, endpoint_id: str) -> None:
        """Subscription, mapping, queues, item: in that order, each step tolerating "already gone"."""
        endpoint, res = self._load(endpoint_id)
        queue_arn = res.queue_arn or self._existing_queue_arn(endpoint_id)
        subscription = res.subscription_arn or (queue_arn and bus.find_subscription(self.settings.topic_arn, queue_arn))
        if subscription:
            bus.unsubscribe(subscription)
        mapping = res.mapping_id or (queue_arn and self.event_sources.find(queue_arn, self.settings.delivery_function))
        if mapping:
            self.event_sources.delete(mapping)
        queues.delete_endpoint_queues(self.settings.prefix, endpoint.id)
        self.store.delete_endpoint_item(endpoint.id, name_key=name_key(endpoint.name))

    def pause(self, endpoint_id: str, reason: str = "manual") -> Endpoint:
        """Stop deliveries by disabling the mapping only: events keep buffering in the queue."""
        endpoint, res = self._load(endpoint_id)
        return self._apply(endpoint, res, {"active": False, "pausedReason": reason}, self._enable_mapping)

    def resume(self, endpoint_id: str) -> Endpoint:
        """Re-enable the mapping and start health tracking afresh; buffered events flow again."""
        endpoint, res = self._load(endpoint_id)
        return self._apply(endpoint, res, {"active": True, **_HEALTH_RESET}, self._enable_mapping)

    def reconcile(self, endpoint_id: str | None = None) -> list[str]:
        """Repair drift for one endpoint or all; returns what was fixed ("<id>: <fix>")."""
        items = [self._item(endpoint_id)] if endpoint_id else self.store.all_endpoint_items()
        fixes: list[str] = []
        for item in items:
            if not endpoint_id and self._seal_plaintext(item):
                fixes.append(f"{item['id']}: sealed its plaintext secrets")
            endpoint, res = _split(item)
            fixes += [f"{endpoint.id}: {fix}" for fix in self._claim_name(endpoint) + self._converge(endpoint, res)]
        return fixes

    # -- internals ---------------------------------------------------------------------
    def _apply(
        self,
        endpoint: Endpoint,
        res: EndpointResources,
        revision: dict[str, Any],
        provision: Callable[[Endpoint, EndpointResources], object],
        sealed: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> Endpoint:
        """Resources first (`provision`), the item last: the item is what deliveries read, so it
        never says what the subscription and mapping do not do. An AWS failure on either puts the
        resources back to the stored endpoint and is answered 503, retryable. `sealed`: new sealed
        secrets (see `sealing`) written in the same write, while the old ones are still stored."""
        updated = self._revised(endpoint, revision)
        try:
            provision(updated, res)
            self._save(updated, revision, renamed_from=endpoint.name, sealed=sealed)
        except (ClientError, BotoCoreError) as exc:
            raise self._rolled_back(endpoint, exc, provision) from exc
        except NameTaken as exc:  # refused after the resources changed: put them back as the item says
            provision(endpoint, self._load(endpoint.id)[1])
            raise _name_taken(updated.name, exc.endpoint_id) from None
        return updated

    def _rolled_back(
        self, endpoint: Endpoint, exc: Exception, provision: Callable[[Endpoint, EndpointResources], object]
    ) -> ApiError:
        code = (
            exc.response.get("Error", {}).get("Code", "Error") if isinstance(exc, ClientError) else type(exc).__name__
        )
        try:
            provision(endpoint, self._load(endpoint.id)[1])
            left = "nothing was changed"
        except Exception:  # noqa: BLE001 - the first failure is the one to answer; this one is logged
            logger.exception("putting back the resources of a failed update failed", extra={"endpointId": endpoint.id})
            left = "its subscription or event source mapping may still differ from it until the request is retried"
        return ApiError(
            503,
            "provisioning_failed",
            f"the endpoint was not updated: changing its AWS resources failed ({code}); {left}; retry the request",
            {"retryable": True},
        )

    def _enable_mapping(self, endpoint: Endpoint, res: EndpointResources) -> None:
        """Pause and resume touch the mapping only: events keep buffering in the queue meanwhile."""
        if res.mapping_id:
            self.event_sources.update(res.mapping_id, enabled=endpoint.active)

    def _item(self, endpoint_id: str) -> dict[str, Any]:
        """The item, read to change the endpoint: its plaintext secrets sealed first if this caller seals."""
        item = self.store.get_endpoint_item(endpoint_id)
        if item is None:
            raise ApiError(404, "not_found", f"endpoint {endpoint_id} does not exist")
        self._seal_plaintext(item)
        return item

    def _seal_plaintext(self, item: dict[str, Any]) -> bool:
        if self.secrets is None or SEALED_SECRETS in item or "secret" not in item:
            return False
        save_secrets(self.store, self.secrets, item, secrets_of(item, self.secrets))
        return True

    def _load(self, endpoint_id: str) -> tuple[Endpoint, EndpointResources]:
        return _split(self._item(endpoint_id))

    def _revised(self, endpoint: Endpoint, changes: dict[str, Any]) -> Endpoint:
        """The endpoint with `changes` applied and validated, stamped with a new updatedAt."""
        merged = {**endpoint.model_dump(), **changes, "updatedAt": utc_iso(datetime.now(UTC))}
        # A stored URL was accepted under the rules of its day; only a new one meets today's.
        allow_insecure = self.settings.allow_insecure or "url" not in changes
        context = url_rules(self.settings, allow_insecure)
        if "events" in changes:  # a new filter meets today's catalog; a kept one is not read again
            context["catalog"] = catalog_for(self.settings, self.store)
        try:
            return Endpoint.model_validate(merged, context=context)
        except ValidationError as exc:
            raise _validation_failed(exc) from None

    def _save(
        self,
        endpoint: Endpoint,
        fields: Iterable[str],
        *,
        renamed_from: str | None = None,
        sealed: tuple[dict[str, Any], dict[str, Any]] | None = None,
    ) -> None:
        """Write only `fields` of the revised endpoint, plus updatedAt (None removes).

        Never the whole model: the item was read before this write, and a secret rotation
        (secret, previousSecrets) or delivery's atomic failure counters written meanwhile must
        survive a PATCH, pause or resume. The `resources` map is left alone too. A new name
        (`renamed_from` the old one) is claimed, and the old one released, in the same write.
        """
        item = endpoint.to_item()
        changes = {k: item.get(k) for k in (*fields, "updatedAt")}
        expected: dict[str, Any] = {}
        if sealed is not None:
            changes.update(sealed[0])
            expected = sealed[1]
        old_key, new_key = name_key(renamed_from or endpoint.name), name_key(endpoint.name)
        if old_key == new_key:
            self.store.update_endpoint_fields_if(endpoint.id, changes, expected)
            return
        self.store.rename_endpoint(
            endpoint.id,
            changes,
            old_key=old_key,
            new_key=new_key,  # NameTaken: _apply
            expected=expected,
        )

    def _claim_name(self, endpoint: Endpoint) -> list[str]:
        """reconcile's part for names: claim an unclaimed one; report one another endpoint holds
        (a duplicate pair made before names were unique) instead of failing."""
        try:
            return (
                [f"claimed the name {endpoint.name!r}"]
                if self.store.claim_name(endpoint.id, name_key(endpoint.name))
                else []
            )
        except NameTaken as exc:
            return [
                f"the name {endpoint.name!r} is also {exc.endpoint_id}'s: rename one of them "
                f"(PATCH /endpoints/{endpoint.id} with a new name)"
            ]

    def _record(self, endpoint_id: str, before: EndpointResources, after: EndpointResources) -> None:
        if after != before:
            self.store.update_endpoint_fields(endpoint_id, {RESOURCES: after.to_item()})

    def _existing_queue_arn(self, endpoint_id: str) -> str:
        url = queues.queue_url(r.endpoint_queue_name(self.settings.prefix, endpoint_id))
        return queues.queue_arn(url) if url else ""

    def _converge(self, endpoint: Endpoint, recorded: EndpointResources) -> list[str]:
        q, fixes = queues.ensure_endpoint_queues(self.settings.prefix, endpoint.id, self.settings.topic_arn)
        res = replace(recorded, queue_url=q.queue_url, queue_arn=q.queue_arn, dlq_url=q.dlq_url, dlq_arn=q.dlq_arn)
        self._record(endpoint.id, recorded, res)
        subscription, sub_fixes = self._ensure_subscription(endpoint, res)
        subscribed = replace(res, subscription_arn=subscription)
        self._record(endpoint.id, res, subscribed)
        mapping, map_fixes = self._ensure_mapping(endpoint, subscribed)
        self._record(endpoint.id, subscribed, replace(subscribed, mapping_id=mapping))
        return fixes + sub_fixes + map_fixes

    def _ensure_subscription(self, endpoint: Endpoint, res: EndpointResources) -> tuple[str, list[str]]:
        topic, wanted = self.settings.topic_arn, filter_policy(endpoint.events)
        attrs = bus.get_subscription(res.subscription_arn) if res.subscription_arn else None
        if attrs is not None and attrs.get("Endpoint") == res.queue_arn and res.subscription_arn is not None:
            arn, fixes = res.subscription_arn, []
        else:
            fixes = ["subscribed queue to topic" if res.subscription_arn is None else "re-created missing subscription"]
            try:
                arn = bus.subscribe_queue(topic, res.queue_arn, wanted)
                return arn, fixes
            except ClientError as exc:  # exists unrecorded, with other attributes: adopt and correct it
                if exc.response.get("Error", {}).get("Code") != "InvalidParameter":
                    raise
                found = bus.find_subscription(topic, res.queue_arn)
                if found is None:
                    raise
                arn, attrs = found, bus.get_subscription(found) or {}
        if bus.filter_policy_of(attrs) != wanted:
            bus.set_filter_policy(arn, wanted)
            fixes.append("reset subscription filter policy")
        if attrs.get("RawMessageDelivery") != "true":
            bus.set_raw_delivery(arn)
            fixes.append("re-enabled raw message delivery")
        return arn, fixes

    def _ensure_mapping(self, endpoint: Endpoint, res: EndpointResources) -> tuple[str, list[str]]:
        sources, function = self.event_sources, self.settings.delivery_function
        found = sources.get(res.mapping_id) if res.mapping_id else None
        if found is None or found["queue_arn"] != res.queue_arn:
            mapping_id = sources.find(res.queue_arn, function)
            found = sources.get(mapping_id) if mapping_id else None
        if found is None:
            mapping_id = sources.create(
                res.queue_arn,
                function,
                batch_size=r.EVENT_SOURCE.batch_size,
                max_batching_window_s=r.EVENT_SOURCE.max_batching_window_s,
                max_concurrency=endpoint.maxConcurrency,
                enabled=endpoint.active,
            )
            return mapping_id, ["created event source mapping"]
        drift: dict[str, Any] = {
            "enabled": endpoint.active,
            "max_concurrency": endpoint.maxConcurrency,
            "batch_size": r.EVENT_SOURCE.batch_size,
        }
        drift = {k: v for k, v in drift.items() if found[k] != v}
        if drift:
            sources.update(found["id"], **drift)
        return found["id"], [f"set mapping {k} to {v}" for k, v in drift.items()]
