"""`make demo`: a scripted, non-interactive tour that ends by itself.

Builds every example event from the product document, signs each the way a delivery does,
and checks the signatures twice: with our receiver helper (`litestore_webhooks.verify`) and
with the document's own Node.js `verifyWebhookSignature` code over `JSON.stringify(req.body)`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

from litestore_webhooks import verify
from litestore_webhooks.core import catalog
from litestore_webhooks.core.envelope import build_envelope
from litestore_webhooks.core.signing import signature_headers

# The document's verifyWebhookSignature, fed exactly what an Express receiver would see.
_NODE_VERIFY = r"""
const crypto = require('crypto');
const lines = require('fs').readFileSync(0, 'utf8').trim().split('\n');
for (const line of lines) {
  const { body, signature, secret } = JSON.parse(line);
  const payload = JSON.stringify(JSON.parse(body));
  const expected = crypto.createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
  const ok = signature.length === expected.length &&
    crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
  console.log(ok ? 'ok' : 'FAIL');
}
"""

SECRET = "order-secret-123"  # the document's own example secret


def signing_tour(out=sys.stdout) -> int:
    """Sign and verify every catalog example; returns the number of failures."""
    now = datetime(2024, 1, 16, tzinfo=timezone.utc)  # the examples are dated 2024-01-15
    rows, node_input = [], []
    for name, event_type in catalog.CATALOG.items():
        envelope = build_envelope(event_type.example, now=now)
        body = envelope.body()
        headers = signature_headers(
            body=body, event_id=envelope.id, event_type=envelope.event, attempt=1,
            secrets=[SECRET], timestamp=int(time.time()),
        )
        try:
            verify(body, headers, SECRET)
            py_ok = "ok"
        except Exception as exc:  # shown in the table, counted below
            py_ok = f"FAIL ({exc})"
        rows.append([name, envelope.id, len(body), py_ok])
        node_input.append(json.dumps({"body": body.decode(), "signature": headers["X-Litestore-Signature"], "secret": SECRET}))

    node = shutil.which("node")
    if node:
        result = subprocess.run([node, "-e", _NODE_VERIFY], input="\n".join(node_input), capture_output=True, text=True, check=True)
        for row, verdict in zip(rows, result.stdout.split()):
            row.append(verdict)
    else:
        for row in rows:
            row.append("skipped (node not found)")

    header = ["event type", "event id", "bytes", "verify()", "document's Node code"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)), file=out)
    failures = sum(1 for row in rows for cell in row[3:] if str(cell).startswith("FAIL"))
    print(f"\n{len(rows)} events signed; {failures} verification failures.", file=out)
    return failures


def main() -> int:
    print("Litestore webhooks — signing tour over the product document's example events\n")
    return 1 if signing_tour() else 0


if __name__ == "__main__":
    raise SystemExit(main())
