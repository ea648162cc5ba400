"""`python -m litestore_webhooks.cli`: the same as the `litestore-webhooks` console script."""

from litestore_webhooks.cli import main

raise SystemExit(main())
