"""/endpoints/{id}/secret: show the current secret, rotate it with an overlap window (or revoke the old ones)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body as BodyParam
from pydantic import Field, field_validator

from litestore_webhooks import operational, provisioning
from litestore_webhooks.admin import common
from litestore_webhooks.api import json_response
from litestore_webhooks.aws.kms import SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import settings
from litestore_webhooks.core.endpoint import Endpoint, PreviousSecret, utc_iso
from litestore_webhooks.core.event_types import system
from litestore_webhooks.core.signing import generate_secret, validate_secret

router = Router()
MAX_PREVIOUS_SECRETS = 10
DEFAULT_OVERLAP_S = 24 * 3600
MAX_OVERLAP_S = 7 * 24 * 3600


class Rotation(common.Body):
    overlapSeconds: int = Field(
        DEFAULT_OVERLAP_S,
        ge=0,
        le=MAX_OVERLAP_S,
        description="How long the old secret keeps signing too (0: stops at once)",
    )
    secret: str | None = Field(None, description="Use this secret instead of a generated one")
    revokePrevious: bool = Field(
        False,
        description="Secrets from earlier rotations stop signing now too "
        "(with overlapSeconds 0: only the new secret signs)",
    )

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None:
            validate_secret(value)
        return value


def show(st: Store, box: SecretBox, endpoint_id: str) -> dict[str, Any]:
    """The current secret and when each still-signing old one expires (never the old values)."""
    secrets = provisioning.secrets_of(common.endpoint_item_or_404(st, endpoint_id), box)
    live = secrets.unexpired(common.now())
    return {"secret": secrets.secret, "previousSecrets": [{"expiresAt": p.expiresAt} for p in live]}


def rotate(st: Store, box: SecretBox, endpoint_id: str, rotation: Rotation) -> dict[str, Any]:
    """New current secret; the old one signs alongside it until the overlap ends.

    Earlier rotations' secrets keep their own overlap unless `revokePrevious` ends them now.
    Conditional on the secrets we replaced (provisioning.save_secrets): a concurrent rotation
    gets 409 and retries.
    """
    item = common.endpoint_item_or_404(st, endpoint_id)
    current = provisioning.secrets_of(item, box)
    moment = common.now()
    previous = [] if rotation.revokePrevious else current.unexpired(moment)
    expires = None
    if rotation.overlapSeconds > 0:
        expires = utc_iso(moment + timedelta(seconds=rotation.overlapSeconds))
        previous.append(PreviousSecret(secret=current.secret, expiresAt=expires))
    previous = sorted(previous, key=lambda p: p.expiresAt)[-MAX_PREVIOUS_SECRETS:]
    secret = rotation.secret or generate_secret()
    provisioning.save_secrets(
        st,
        box,
        item,
        current.model_copy(update={"secret": secret, "previousSecrets": previous}),
        updatedAt=utc_iso(moment),
    )
    operational.publish(
        settings(),
        st,
        system.SECRET_ROTATED,
        {**operational.about(Endpoint.from_item(item)), "previousSecretExpiresAt": expires},
    )
    return {
        "secret": secret,
        "previousSecretExpiresAt": expires,
        "previousSecrets": [{"expiresAt": p.expiresAt} for p in previous],
    }


_TAGS = ["secrets"]


@router.get("/endpoints/<endpoint_id>/secret", summary="Show the signing secret", tags=_TAGS)
def get_secret(endpoint_id: str):  # noqa: ANN201 - a Response annotation would be validated as the body
    return json_response(200, show(common.store(), common.secret_box(), endpoint_id))


@router.post("/endpoints/<endpoint_id>/secret/rotate", summary="Rotate the signing secret", tags=_TAGS)
def post_rotate(endpoint_id: str, rotation: Annotated[Rotation, BodyParam()] = Rotation()):  # noqa: ANN201
    return json_response(200, rotate(common.store(), common.secret_box(), endpoint_id, rotation))
