"""Delivery Lambda: the SQS event source of one endpoint queue -> `delivery.process_batch`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from litestore_webhooks import delivery
from litestore_webhooks.aws.kms import DataKeyCache
from litestore_webhooks.delivery import logger, metrics, tracer

# Built once per container: decrypted data keys of the endpoints' sealed secrets (bounded).
data_keys = DataKeyCache()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    return delivery.process_batch(event, data_keys=data_keys)
