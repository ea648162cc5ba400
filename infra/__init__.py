"""CDK constructs and the stack for Litestore webhooks (see docs/deploy.md)."""
