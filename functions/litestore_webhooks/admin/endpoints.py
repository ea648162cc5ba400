"""/endpoints: create (optionally idempotent), list, show, update, delete, pause, resume."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import Field, ModelWrapValidatorHandler, model_validator

from litestore_webhooks import operational, provisioning
from litestore_webhooks.admin import access, common
from litestore_webhooks.admin.common import Cursor, Limit
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import settings
from litestore_webhooks.core.endpoint import Endpoint, EndpointSpec, RetryPolicy
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.core.event_types import system
from litestore_webhooks.provisioning import Provisioner

router = Router()
IDEMPOTENCY_WINDOW_S = 12 * 3600


def _without_default(schema: dict[str, Any]) -> None:
    """The OpenAPI schema shows no default for a field whose default is only a "not given" sentinel."""
    schema.pop("default", None)


class NewEndpoint(EndpointSpec):
    """The document's endpoint config; http:// and loopback URLs only where the deployment allows them."""

    # This class documents the request body in OpenAPI (the docstring is its description).
    # Validation is provisioning.validate_spec, the one Provisioner.parse_spec uses: Powertools
    # validates bodies without a pydantic context, so the deployment's URL rules are passed there.

    # Same rule as EndpointSpec.name; its "" default is a "not given" sentinel, not a valid example.
    name: str = Field(
        "",
        min_length=1,
        max_length=100,
        description="Unique among endpoints, case and spacing aside (else 409 name_taken). Defaults to the URL's host",
        json_schema_extra=_without_default,
    )

    @model_validator(mode="wrap")  # type: ignore[misc]  # a wrap validator of a subclass returning its base
    @classmethod
    def _as_provisioning_validates(cls, data: Any, handler: ModelWrapValidatorHandler[EndpointSpec]) -> EndpointSpec:
        if not isinstance(data, dict):  # not a JSON object: pydantic's own type error, as before
            return handler(data)
        return provisioning.validate_spec(data, settings())


class EndpointChanges(common.Body):
    """A partial update; the provisioner validates the merged result (URL rules included)."""

    name: str | None = Field(None, description="A new name no other endpoint has (else 409 name_taken)")
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    retryPolicy: RetryPolicy | None = Field(None, description="replaced whole")
    description: str | None = None
    timeout: int | None = None
    maxConcurrency: int | None = None
    rateLimit: float | None = Field(None, description="events per second; null removes the limit")
    headers: dict[str, str] | None = Field(None, description="replaced whole; {} removes them")
    sensitiveHeaders: dict[str, str] | None = Field(
        None, description="replaced whole (values sealed, listed as '[redacted]'); {} removes them"
    )


def with_secret(endpoint: Endpoint, secret: str) -> dict[str, Any]:
    """The create response: the only place an endpoint's secret is returned with it."""
    return {**endpoint.public_dict(), "secret": secret}


def _fingerprint(spec: EndpointSpec) -> str:
    submitted = spec.model_dump(mode="json", exclude_unset=True)
    return hashlib.sha256(json.dumps(submitted, sort_keys=True).encode()).hexdigest()


def create(prov: Provisioner, spec: EndpointSpec, idempotency_key: str | None = None) -> tuple[Endpoint, str]:
    """Create an endpoint; with a key, a retry within 12 h returns the endpoint the first call made.

    Returns the endpoint and its current secret."""
    if idempotency_key is None:
        return _created(prov, prov.create(spec)), spec.secret
    st, fingerprint = prov.store, _fingerprint(spec)
    holder = st.claim_admin_key(idempotency_key, fingerprint, window_s=IDEMPOTENCY_WINDOW_S)
    if holder is not None:
        return _replay(st, common.secret_box(), holder, fingerprint)
    try:
        endpoint = prov.create(spec)
    except Exception:
        st.release_admin_key(idempotency_key)  # the request failed: let a retry run it again
        raise
    st.complete_admin_key(idempotency_key, {"endpointId": endpoint.id})
    return _created(prov, endpoint), spec.secret


def _created(prov: Provisioner, endpoint: Endpoint) -> Endpoint:
    """webhooks.endpoint.created, once per endpoint (an idempotent replay made none)."""
    operational.publish(prov.settings, prov.store, system.ENDPOINT_CREATED, operational.subscription(endpoint))
    return endpoint


def _replay(st: Store, box: SecretBox, holder: dict[str, Any], fingerprint: str) -> tuple[Endpoint, str]:
    """The endpoint an earlier request with the same key created, and its current secret."""
    if holder.get("fingerprint") != fingerprint:
        raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request body")
    if "result" not in holder:
        raise ApiError(
            409, "idempotency_in_progress", "a request with this Idempotency-Key is still running; retry shortly"
        )
    endpoint_id = holder["result"]["endpointId"]
    item = st.get_endpoint_item(endpoint_id)
    if item is None:
        raise ApiError(
            409, "idempotency_conflict", f"endpoint {endpoint_id}, created with this Idempotency-Key, was deleted"
        )
    return Endpoint.from_item(item), provisioning.secrets_of(item, box).secret


def list_endpoints(
    st: Store, limit: int, cursor: str | None, principal: access.Principal = access.ADMIN
) -> dict[str, Any]:
    if principal.scoped:  # a console session limited to some endpoints: those, in one page
        assert principal.claims is not None and principal.claims.endpoint_ids is not None
        items = [i for i in map(st.get_endpoint_item, principal.claims.endpoint_ids) if i is not None]
        return common.page(
            [Endpoint.from_item(i).public_dict() for i in sorted(items, key=lambda i: i["createdAt"])], None
        )
    p = st.list_endpoint_items(limit=limit, cursor=cursor)
    return common.page([Endpoint.from_item(i).public_dict() for i in p.items], p.cursor)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A retry with the same key within 12 h returns the same endpoint",
    ),
]
_TAGS = ["endpoints"]


@router.post(
    "/endpoints", summary="Create an endpoint; the response carries its secret, once", tags=_TAGS, status_code=201
)
def post_endpoint(spec: Annotated[NewEndpoint, BodyParam()], idempotency_key: IdempotencyKey = None):  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(201, with_secret(*create(common.provisioner(), spec, idempotency_key)))


@router.get("/endpoints", summary="List endpoints (never their secrets)", tags=_TAGS)
def get_endpoints(limit: Limit = 50, cursor: Cursor = None):  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(200, list_endpoints(common.store(), limit, cursor, access.current()))


@router.get("/endpoints/<endpoint_id>", summary="Show an endpoint", tags=_TAGS)
def get_endpoint(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(200, common.endpoint_or_404(common.store(), endpoint_id)[0].public_dict())


@router.patch("/endpoints/<endpoint_id>", summary="Update an endpoint and re-provision it in place", tags=_TAGS)
def patch_endpoint(endpoint_id: str, changes: Annotated[EndpointChanges, BodyParam()]):  # noqa: ANN201 - a Response annotation would be validated as the body
    prov = common.provisioner()
    submitted = changes.model_dump(mode="json", exclude_unset=True)
    updated = prov.update(endpoint_id, submitted)
    operational.publish(
        prov.settings,
        prov.store,
        system.ENDPOINT_UPDATED,
        {**operational.subscription(updated), "changed": sorted(submitted)},
    )
    return json_response(200, updated.public_dict())


@router.delete(
    "/endpoints/<endpoint_id>", summary="Delete an endpoint, its queues and subscription", tags=_TAGS, status_code=204
)
def delete_endpoint(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    prov = common.provisioner()
    endpoint, _ = common.endpoint_or_404(prov.store, endpoint_id)
    prov.delete(endpoint_id)
    operational.publish(prov.settings, prov.store, system.ENDPOINT_DELETED, operational.about(endpoint))
    return Response(status_code=204)


@router.post(
    "/endpoints/<endpoint_id>/reconcile",
    tags=_TAGS,
    summary="Bring the endpoint's queues, subscription and mapping to what this version makes; lists the fixes",
)
def reconcile_endpoint(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    fixes = common.provisioner().reconcile(endpoint_id)
    return json_response(200, {"id": endpoint_id, "fixed": [fix.split(": ", 1)[1] for fix in fixes]})


@router.post("/endpoints/<endpoint_id>/pause", summary="Pause deliveries (events keep buffering)", tags=_TAGS)
def pause_endpoint(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    prov = common.provisioner()
    endpoint = prov.pause(endpoint_id)
    operational.publish(
        prov.settings, prov.store, system.ENDPOINT_PAUSED, {**operational.about(endpoint), "reason": "manual"}
    )
    return json_response(200, endpoint.public_dict())


@router.post("/endpoints/<endpoint_id>/resume", summary="Resume deliveries", tags=_TAGS)
def resume_endpoint(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    prov = common.provisioner()
    endpoint = prov.resume(endpoint_id)
    operational.publish(prov.settings, prov.store, system.ENDPOINT_RESUMED, operational.about(endpoint))
    return json_response(200, endpoint.public_dict())
