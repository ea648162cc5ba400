"""Litestore webhooks: serverless, signed, retried webhook delivery."""

from litestore_webhooks.core.signing import WebhookVerificationError, verify

__all__ = ["WebhookVerificationError", "verify"]
