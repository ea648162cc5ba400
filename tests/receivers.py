"""Real HTTP(S) webhook receivers on 127.0.0.1 for the tests: the package's own (the demo uses
them too), re-exported here so tests keep importing `tests.receivers`.

    with Receiver(Reply(503), Reply(503)) as rx:
        ...  # deliver to rx.url()
        first, second, third = rx.wait_for(3)
"""

from litestore_webhooks.local.receiver import Receiver, Reply, Request, ca_bundle

__all__ = ["Receiver", "Reply", "Request", "ca_bundle"]
