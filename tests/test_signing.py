"""Signing must interoperate with the document's Node receiver and with Standard Webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as SWVerificationError

from litestore_webhooks import WebhookVerificationError, verify
from litestore_webhooks.core.canonical import canonical_bytes, parse_json
from litestore_webhooks.core.signing import (
    SIGNATURE_HEADER,
    USER_AGENT,
    generate_secret,
    legacy_signature,
    secret_key,
    signature_headers,
    standard_signature,
    validate_secret,
)

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

DOC_SECRET = "order-secret-123"
NOW = 1_700_000_000
BODY = canonical_bytes(
    parse_json(
        b'{"event": "product.purchased", "id": "evt_product_purchased_126", "data": '
        b'{"quantity": 1, "price": {"amount": 49.99, "currency": "USD"}, "note": "caf\xc3\xa9 \xf0\x9f\x98\x80"}}'
    )
)


def _headers(secrets: list[str], *, body: bytes = BODY, timestamp: int = NOW) -> dict[str, str]:
    return signature_headers(
        body=body, event_id="evt_1", event_type="product.purchased", attempt=2, secrets=secrets, timestamp=timestamp
    )


def test_standard_webhooks_published_vector() -> None:
    assert standard_signature(VECTOR_ID, VECTOR_TS, VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIG
    reference = Webhook(VECTOR_SECRET).sign(VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, tz=UTC), VECTOR_BODY.decode())
    assert reference == VECTOR_SIG
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIG}
    verify(VECTOR_BODY, headers, VECTOR_SECRET, now=VECTOR_TS + 10)


def test_header_set() -> None:
    h = _headers([DOC_SECRET])
    assert h["Content-Type"] == "application/json"
    assert h["User-Agent"] == USER_AGENT == "Litestore-Webhook/1.0"
    assert h[SIGNATURE_HEADER] == legacy_signature(BODY, DOC_SECRET)
    assert (h["X-Litestore-Event"], h["X-Litestore-Event-Id"], h["X-Litestore-Delivery-Attempt"]) == (
        "product.purchased",
        "evt_1",
        "2",
    )
    assert (h["webhook-id"], h["webhook-timestamp"]) == ("evt_1", str(NOW))
    assert h["webhook-signature"] == standard_signature("evt_1", NOW, BODY, DOC_SECRET)
    with pytest.raises(ValueError):
        _headers([])


def test_our_headers_pass_the_standardwebhooks_library() -> None:
    secret = generate_secret()
    headers = _headers([secret], timestamp=int(time.time()))
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)
    verify(BODY, headers, secret)
    with pytest.raises(SWVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_document_secret_works_with_both_schemes() -> None:
    h = _headers([DOC_SECRET])
    assert h[SIGNATURE_HEADER] == hmac.new(b"order-secret-123", BODY, hashlib.sha256).hexdigest()
    expected = hmac.new(b"order-secret-123", b"evt_1.%d." % NOW + BODY, hashlib.sha256).digest()
    assert h["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    verify(BODY, h, DOC_SECRET, now=NOW)
    verify(BODY, {SIGNATURE_HEADER: h[SIGNATURE_HEADER]}, DOC_SECRET, allow_replayable_legacy_signature=True)
    with pytest.raises(WebhookVerificationError, match="allow_replayable_legacy_signature=True"):
        verify(BODY, {SIGNATURE_HEADER: h[SIGNATURE_HEADER]}, DOC_SECRET)  # not without saying so
    verify(BODY.decode(), {k.upper(): v for k, v in h.items()}, DOC_SECRET, now=NOW)  # str body, any case


NODE_RECEIVER = r"""
const crypto = require('crypto');
function verifyWebhookSignature(payload, signature, secret) {
  const expectedSignature = crypto.createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
  return signature.length === expectedSignature.length &&
    crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expectedSignature));
}
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(cases.map(c => {
  const reqBody = JSON.parse(c.body);  // what express.json() hands the handler
  return verifyWebhookSignature(JSON.stringify(reqBody), c.signature, c.secret);
})));
"""


def test_legacy_signature_verifies_in_the_documents_node_receiver() -> None:
    node = shutil.which("node")
    assert node, "node is required for the receiver interoperability test"
    whsec = generate_secret()
    cases = [
        (BODY, DOC_SECRET, True),
        (BODY, whsec, True),  # legacy scheme keys with the whsec_ string itself, like createHmac
        (canonical_bytes({"amount": 25.5, "big": 1e21, "tiny": 1e-7, "ctl": "\x01\n"}), "s3cr€t-ünïcode", True),
        (BODY, "wrong-secret", False),
    ]
    payload = [
        {
            "body": body.decode(),
            "secret": secret,
            "signature": _headers([DOC_SECRET if not ok else secret], body=body)[SIGNATURE_HEADER],
        }
        for body, secret, ok in cases
    ]
    out = subprocess.run(
        [node, "-e", NODE_RECEIVER], input=json.dumps(payload).encode(), capture_output=True, check=True
    )
    assert json.loads(out.stdout) == [ok for _, _, ok in cases]


def test_rotation_sends_both_and_either_verifies() -> None:
    new, old = generate_secret(), DOC_SECRET
    h = _headers([new, old])
    sigs = h["webhook-signature"].split(" ")
    assert sigs == [standard_signature("evt_1", NOW, BODY, new), standard_signature("evt_1", NOW, BODY, old)]
    assert h[SIGNATURE_HEADER] == legacy_signature(BODY, new)
    verify(BODY, h, new, now=NOW)
    verify(BODY, h, old, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, h, generate_secret(), now=NOW)


def test_one_valid_among_several_signatures() -> None:
    good = standard_signature("evt_1", NOW, BODY, DOC_SECRET)
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": f"v2,abc v1,!!notbase64 v1,{base64.b64encode(b'x' * 32).decode()} {good}",
    }
    verify(BODY, headers, DOC_SECRET, now=NOW)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b, h: (b, h, "other-secret-1"), "no matching webhook-signature"),
        (lambda b, h: (b.replace(b"49.99", b"0.01"), h, DOC_SECRET), "no matching webhook-signature"),
        (lambda b, h: (b, {**h, "webhook-timestamp": str(NOW + 1)}, DOC_SECRET), "no matching webhook-signature"),
        (lambda b, h: (b, {**h, "webhook-id": "evt_2"}, DOC_SECRET), "no matching webhook-signature"),
        (lambda b, h: (b, {**h, "webhook-timestamp": "12.5"}, DOC_SECRET), "not an integer"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-timestamp"}, DOC_SECRET), "webhook-timestamp"),
        (lambda b, h: (b, {"Content-Type": "application/json"}, DOC_SECRET), "missing signature headers"),
        (lambda b, h: (b, {SIGNATURE_HEADER: h[SIGNATURE_HEADER]}, DOC_SECRET), "pass allow_replayable_legacy"),
    ],
)
def test_verify_rejects(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    body, headers, secret = mutate(BODY, _headers([DOC_SECRET]))
    with pytest.raises(WebhookVerificationError, match=message):
        verify(body, headers, secret, now=NOW)


@pytest.mark.parametrize("signature", ["0" * 64, "é"])
def test_verify_rejects_a_bad_legacy_signature_when_opted_in(signature: str) -> None:
    with pytest.raises(WebhookVerificationError, match="X-Litestore-Signature does not match"):
        verify(BODY, {SIGNATURE_HEADER: signature}, DOC_SECRET, allow_replayable_legacy_signature=True)


def test_verify_timestamp_window() -> None:
    h = _headers([DOC_SECRET])
    verify(BODY, h, DOC_SECRET, now=NOW + 300)
    verify(BODY, h, DOC_SECRET, now=NOW - 300)
    with pytest.raises(WebhookVerificationError, match="timestamp too old"):
        verify(BODY, h, DOC_SECRET, now=NOW + 301)
    with pytest.raises(WebhookVerificationError, match="timestamp in the future"):
        verify(BODY, h, DOC_SECRET, now=NOW - 301)
    verify(BODY, h, DOC_SECRET, tolerance_s=1000, now=NOW + 900)


def test_standard_headers_never_downgrade_to_legacy() -> None:
    h = _headers([DOC_SECRET])
    with pytest.raises(WebhookVerificationError, match="timestamp too old"):
        verify(BODY, h, DOC_SECRET, now=NOW + 3600)  # the still-valid legacy header is not consulted


def test_generated_secrets() -> None:
    secrets = {generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    for s in secrets:
        assert s.startswith("whsec_") and len(s) == 6 + 44
        assert len(secret_key(s)) == 32
        validate_secret(s)


@pytest.mark.parametrize("secret", [DOC_SECRET, "12345678", "x" * 128, "p@ss!w0rd~", VECTOR_SECRET])
def test_validate_secret_accepts(secret: str) -> None:
    validate_secret(secret)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("short", "8 to 128"),
        ("x" * 129, "8 to 128"),
        ("has space-123", "without whitespace"),
        ("tab\there123", "without whitespace"),
        ("pässwört-123", "printable ASCII"),
        ("whsec_" + base64.b64encode(b"x" * 16).decode(), "24..64 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24..64 bytes"),
        ("whsec_not*base64*at*all", "not valid base64"),
    ],
)
def test_validate_secret_rejects(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_secret(secret)


def test_secret_key() -> None:
    assert secret_key(DOC_SECRET) == b"order-secret-123"
    assert secret_key(VECTOR_SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert secret_key("whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("=")) == b"k" * 32  # unpadded ok
