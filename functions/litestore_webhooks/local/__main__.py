"""`python -m litestore_webhooks.local`: the same as `litestore-webhooks local`."""

from litestore_webhooks.local.cli import main

raise SystemExit(main())
