"""The receivers' helper `verify` (core/signing.py) against everything a bad or odd request can carry
(issue 7, "Receiver helper"; docs/reliability.md "Receiver helper (`verify`)").

Each case states our documented result (passes, or WebhookVerificationError with its message; a
malformed secret is the receiver's configuration error, ValueError) and, for the Standard Webhooks
headers, what the reference `standardwebhooks` library does with the same request and key: the
same verdict, except where noted (the library accepts fractional and non-ASCII-digit timestamps,
which we refuse, and crashes on some malformed signature lists, which we refuse cleanly). The
legacy X-Litestore-Signature alone is refused by default (the library refuses it too: it has no
webhook-* headers) and checked only with allow_replayable_legacy_signature=True ([opt-in] rows).
test_signing.py covers the signer and the basic refusals; this file is the full matrix.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as ReferenceError_

from litestore_webhooks import WebhookVerificationError, verify
from litestore_webhooks.core.signing import (
    SIGNATURE_HEADER,
    generate_secret,
    legacy_signature,
    secret_key,
    signature_headers,
    standard_signature,
)

WHSEC = generate_secret()
OLD = "order-secret-123"  # the document's kind of secret: its UTF-8 bytes are the key
BODY = b'{"event":"order.updated","id":"evt_v1","timestamp":"2024-01-15T11:00:00Z","data":{"note":"caf\xc3\xa9"}}'
ID = "evt_v1"


def signed(
    *, secrets: list[str] | None = None, body: bytes = BODY, offset: int = 0, event_id: str = ID
) -> dict[str, str]:
    """The headers our delivery sends, stamped `offset` seconds from now."""
    return signature_headers(
        body=body,
        event_id=event_id,
        event_type="order.updated",
        attempt=1,
        secrets=secrets or [WHSEC],
        timestamp=int(time.time()) + offset,
    )


def standard_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("webhook-")}


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in names}


def replaced(headers: dict[str, str], **values: str) -> dict[str, str]:
    return {**headers, **{k.replace("_", "-"): v for k, v in values.items()}}


@dataclass(frozen=True)
class Case:
    label: str
    request: Callable[[], tuple[bytes | str, dict[str, str], str]]  # body, headers, secret
    ours: str | None  # None: passes; otherwise "ExceptionName: message fragment"
    reference: str | None = "same"  # "same" as ours, "ok", "refused", "crash:<Exception>", None: not comparable
    legacy_opt_in: bool = False  # verify(..., allow_replayable_legacy_signature=True)


def _now() -> int:
    return int(time.time())


def legacy_only(headers: dict[str, str]) -> dict[str, str]:
    return {SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}


# Requests carrying only X-Litestore-Signature, and what verify() says of each once the receiver
# passes allow_replayable_legacy_signature=True (without it, every one is refused).
LEGACY_ALONE = [
    ("legacy alone, valid", lambda: (BODY, {SIGNATURE_HEADER: legacy_signature(BODY, OLD)}, OLD), None),
    (
        "legacy alone, with surrounding spaces",
        lambda: (BODY, {SIGNATURE_HEADER: f" {legacy_signature(BODY, OLD)} "}, OLD),
        None,
    ),
    (
        "legacy alone, from a delivery signed 30 days ago (webhook-* headers stripped)",
        lambda: (BODY, legacy_only(signed(secrets=[OLD], offset=-30 * 86400)), OLD),
        None,
    ),
    (
        "legacy alone, wrong secret",
        lambda: (BODY, {SIGNATURE_HEADER: legacy_signature(BODY, OLD)}, "other-secret-1"),
        "WebhookVerificationError: X-Litestore-Signature does not match",
    ),
    (
        "legacy alone, tampered body",
        lambda: (BODY + b" ", {SIGNATURE_HEADER: legacy_signature(BODY, OLD)}, OLD),
        "WebhookVerificationError: X-Litestore-Signature does not match",
    ),
    (
        "legacy alone, upper-case hex",
        lambda: (BODY, {SIGNATURE_HEADER: legacy_signature(BODY, OLD).upper()}, OLD),
        "WebhookVerificationError: X-Litestore-Signature does not match",
    ),
    (
        "legacy alone, 'sha256=' prefix",
        lambda: (BODY, {SIGNATURE_HEADER: "sha256=" + legacy_signature(BODY, OLD)}, OLD),
        "WebhookVerificationError: X-Litestore-Signature does not match",
    ),
]


CASES = [
    # -- the Standard Webhooks headers -------------------------------------------------------------
    Case("valid", lambda: (BODY, signed(), WHSEC), None),
    Case("valid, body as str", lambda: (BODY.decode(), signed(), WHSEC), None),
    Case("valid, header names in any case", lambda: (BODY, {k.title(): v for k, v in signed().items()}, WHSEC), None),
    Case("valid, non-ASCII event id", lambda: (BODY, signed(event_id="évt-ü"), WHSEC), None),
    Case(
        "valid, spaces around the timestamp",
        lambda: (BODY, replaced(h := signed(), webhook_timestamp=f" {h['webhook-timestamp']} "), WHSEC),
        None,
    ),
    Case(
        "wrong secret",
        lambda: (BODY, signed(), generate_secret()),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "tampered body (one byte)",
        lambda: (BODY.replace(b"caf", b"caF"), signed(), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "body re-serialised (pretty-printed)",
        lambda: (json.dumps(json.loads(BODY), indent=2), signed(), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "tampered timestamp (+1 s, inside the tolerance)",
        lambda: (BODY, replaced(h := signed(), webhook_timestamp=str(int(h["webhook-timestamp"]) + 1)), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "tampered webhook-id",
        lambda: (BODY, replaced(signed(), webhook_id="evt_other"), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "stale: signed 400 s ago (tolerance 300 s)",
        lambda: (BODY, signed(offset=-400), WHSEC),
        "WebhookVerificationError: timestamp too old",
    ),
    Case(
        "future: signed 400 s ahead",
        lambda: (BODY, signed(offset=400), WHSEC),
        "WebhookVerificationError: timestamp in the future",
    ),
    Case("inside the tolerance: signed 200 s ago", lambda: (BODY, signed(offset=-200), WHSEC), None),
    Case("inside the tolerance: signed 200 s ahead", lambda: (BODY, signed(offset=200), WHSEC), None),
    Case(
        "missing webhook-id",
        lambda: (BODY, without(signed(), "webhook-id"), WHSEC),
        "WebhookVerificationError: missing header(s): webhook-id",
    ),
    Case(
        "missing webhook-timestamp",
        lambda: (BODY, without(signed(), "webhook-timestamp"), WHSEC),
        "WebhookVerificationError: missing header(s): webhook-timestamp",
    ),
    Case(
        "missing webhook-signature",
        lambda: (BODY, without(signed(), "webhook-signature"), WHSEC),
        "WebhookVerificationError: missing header(s): webhook-signature",
    ),
    Case(
        "empty webhook-signature",
        lambda: (BODY, replaced(signed(), webhook_signature=""), WHSEC),
        "WebhookVerificationError: missing header(s): webhook-signature",
    ),
    Case(
        "no signature headers at all",
        lambda: (BODY, {"Content-Type": "application/json"}, WHSEC),
        "WebhookVerificationError: missing signature headers: expected webhook-id, webhook-timestamp, "
        "webhook-signature",
    ),
    Case(
        "several signatures, the last one valid",
        lambda: (BODY, replaced(h := signed(), webhook_signature="v1,AAAA v2,xyz " + h["webhook-signature"]), WHSEC),
        None,
    ),
    Case("rotation: both sent, receiver on the new secret", lambda: (BODY, signed(secrets=[WHSEC, OLD]), WHSEC), None),
    Case(
        "rotation: both sent, receiver still on the old secret", lambda: (BODY, signed(secrets=[WHSEC, OLD]), OLD), None
    ),
    Case(
        "rotation over: only the new one sent, receiver on the old",
        lambda: (BODY, signed(secrets=[WHSEC]), OLD),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "only an unknown version (v2) of a valid signature",
        lambda: (BODY, replaced(h := signed(), webhook_signature=h["webhook-signature"].replace("v1,", "v2,")), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
    ),
    Case(
        "tab between signatures",
        lambda: (BODY, replaced(h := signed(), webhook_signature="v1,AAAA\t" + h["webhook-signature"]), WHSEC),
        None,
        "crash:ValueError",
    ),  # the library splits on single spaces only
    Case(
        "two spaces between signatures",
        lambda: (BODY, replaced(h := signed(), webhook_signature="v1,AAAA  " + h["webhook-signature"]), WHSEC),
        None,
        "crash:ValueError",
    ),
    Case(
        "a signature token without a comma",
        lambda: (BODY, replaced(signed(), webhook_signature="v1AAAA"), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
        "crash:ValueError",
    ),
    Case(
        "valid signature without its base64 padding",
        lambda: (BODY, replaced(h := signed(), webhook_signature=h["webhook-signature"].rstrip("=")), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
        "crash:Error",
    ),  # binascii.Error
    Case(
        "non-ASCII signature",
        lambda: (BODY, replaced(signed(), webhook_signature="v1,é"), WHSEC),
        "WebhookVerificationError: no matching webhook-signature",
        "crash:ValueError",
    ),
    Case(
        "fractional timestamp (123.0)",
        lambda: (BODY, replaced(h := signed(), webhook_timestamp=h["webhook-timestamp"] + ".0"), WHSEC),
        "WebhookVerificationError: webhook-timestamp is not an integer number of seconds",
        "ok",
    ),
    Case(
        "timestamp with a + sign",
        lambda: (BODY, replaced(h := signed(), webhook_timestamp="+" + h["webhook-timestamp"]), WHSEC),
        "WebhookVerificationError: webhook-timestamp is not an integer number of seconds",
        "ok",
    ),
    Case(
        "timestamp in Arabic-Indic digits",
        lambda: (
            BODY,
            replaced(
                h := signed(),
                webhook_timestamp=h["webhook-timestamp"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
            ),
            WHSEC,
        ),
        "WebhookVerificationError: webhook-timestamp is not an integer number of seconds",
        "ok",
    ),
    Case(
        "negative timestamp",
        lambda: (BODY, replaced(signed(), webhook_timestamp="-5"), WHSEC),
        "WebhookVerificationError: webhook-timestamp is not an integer number of seconds",
        "refused",
    ),
    Case(
        "16-digit timestamp",
        lambda: (BODY, replaced(signed(), webhook_timestamp="9" * 16), WHSEC),
        "WebhookVerificationError: webhook-timestamp is not an integer number of seconds",
        "refused",
    ),
    Case(
        "timestamp in milliseconds",
        lambda: (BODY, replaced(signed(), webhook_timestamp=str(_now() * 1000)), WHSEC),
        "WebhookVerificationError: timestamp in the future",
        "refused",
    ),
    Case(
        "valid legacy + stale standard headers (no downgrade)",
        lambda: (BODY, signed(secrets=[OLD], offset=-3600), OLD),
        "WebhookVerificationError: timestamp too old",
    ),
    Case(
        "valid legacy + a lone webhook-id (no downgrade)",
        lambda: (BODY, {SIGNATURE_HEADER: legacy_signature(BODY, OLD), "webhook-id": ID}, OLD),
        "WebhookVerificationError: missing header(s): webhook-timestamp, webhook-signature",
    ),
    # -- the legacy X-Litestore-Signature alone (no timestamp: no replay protection): refused --------
    *[
        Case(
            label,
            request,
            "WebhookVerificationError: missing webhook-id, webhook-timestamp, webhook-signature: "
            "every delivery sends them",
        )
        for label, request, _ in LEGACY_ALONE
    ],
    # -- ... unless the receiver opts in with allow_replayable_legacy_signature=True ------------------
    *[Case(f"{label} [opt-in]", request, result, None, legacy_opt_in=True) for label, request, result in LEGACY_ALONE],
    Case(
        "no signature headers at all [opt-in]",
        lambda: (BODY, {"Content-Type": "application/json"}, WHSEC),
        "WebhookVerificationError: missing signature headers: expected webhook-id, webhook-timestamp, "
        "webhook-signature or X-Litestore-Signature",
        legacy_opt_in=True,
    ),
    Case(
        "valid legacy + stale standard headers [opt-in] (no downgrade)",
        lambda: (BODY, signed(secrets=[OLD], offset=-3600), OLD),
        "WebhookVerificationError: timestamp too old",
        legacy_opt_in=True,
    ),
    Case(
        "valid legacy + a lone webhook-id [opt-in] (no downgrade)",
        lambda: (BODY, {SIGNATURE_HEADER: legacy_signature(BODY, OLD), "webhook-id": ID}, OLD),
        "WebhookVerificationError: missing header(s): webhook-timestamp, webhook-signature",
        legacy_opt_in=True,
    ),
    # -- the receiver's secret ---------------------------------------------------------------------
    Case(
        "secret with a trailing newline (read from a file)",
        lambda: (BODY, signed(secrets=[OLD]), OLD + "\n"),
        "WebhookVerificationError: no matching webhook-signature",
        None,
    ),
    Case(
        "whsec_ secret with a trailing newline",
        lambda: (BODY, signed(), WHSEC + "\n"),
        "ValueError: whsec_ secret is not valid base64",
        None,
    ),
]


def ours(body: bytes | str, headers: dict[str, str], secret: str, legacy_opt_in: bool = False) -> str | None:
    try:
        verify(body, headers, secret, allow_replayable_legacy_signature=legacy_opt_in)
    except (WebhookVerificationError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def reference(body: bytes | str, headers: dict[str, str], secret: str) -> str:
    hook = Webhook(secret) if secret.startswith("whsec_") else Webhook(secret_key(secret))
    try:
        hook.verify(body, standard_only(headers), json_parse=False)
    except ReferenceError_:
        return "refused"
    except Exception as exc:  # noqa: BLE001 - the library's own bugs are what we record here
        return f"crash:{type(exc).__name__}"
    return "ok"


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_verify_gives_the_documented_result(case: Case) -> None:
    body, headers, secret = case.request()
    got = ours(body, headers, secret, case.legacy_opt_in)
    if case.ours is None:
        assert got is None, got
    else:
        assert got is not None and got.startswith(case.ours), got


@pytest.mark.parametrize("case", [c for c in CASES if c.reference], ids=[c.label for c in CASES if c.reference])
def test_the_standardwebhooks_library_agrees_except_where_noted(case: Case) -> None:
    body, headers, secret = case.request()
    expected = case.reference
    if expected == "same":
        expected = "ok" if case.ours is None else "refused"
    got = reference(body, headers, secret)
    assert got == expected or (expected.startswith("crash:") and got.startswith("crash:")), got


def test_exactly_at_the_tolerance_passes_and_one_second_past_fails() -> None:
    headers = signed()
    ts = int(headers["webhook-timestamp"])
    for now, ok in ((ts + 300, True), (ts - 300, True), (ts + 301, False), (ts - 301, False)):
        try:
            verify(BODY, headers, WHSEC, now=now)
            passed = True
        except WebhookVerificationError:
            passed = False
        assert passed is ok, now
    verify(BODY, headers, WHSEC, tolerance_s=0, now=ts)
    with pytest.raises(WebhookVerificationError, match="timestamp too old"):
        verify(BODY, headers, WHSEC, tolerance_s=0, now=ts + 1)


def test_one_forged_signature_among_many_does_not_help() -> None:
    """A request carrying 1,000 guesses is still refused, and checking them stays cheap."""
    h = signed()
    guesses = " ".join("v1," + base64.b64encode(bytes([i % 256]) * 32).decode() for i in range(1000))
    started = time.perf_counter()
    with pytest.raises(WebhookVerificationError, match="no matching"):
        verify(BODY, replaced(h, webhook_signature=guesses), WHSEC)
    assert time.perf_counter() - started < 0.5
    assert standard_signature(ID, int(h["webhook-timestamp"]), BODY, WHSEC) in h["webhook-signature"]


def test_stripping_the_webhook_headers_does_not_downgrade_to_the_untimestamped_signature() -> None:
    """Regression (issue 13 item 2): a delivery signed 30 days ago was refused with its webhook-*
    headers and accepted once they were stripped, through the legacy header's missing timestamp."""
    captured = signed(secrets=[OLD], offset=-30 * 86400)
    with pytest.raises(WebhookVerificationError, match="timestamp too old"):
        verify(BODY, captured, OLD)
    stripped = without(captured, "webhook-id", "webhook-timestamp", "webhook-signature")
    with pytest.raises(WebhookVerificationError, match="missing webhook-id, webhook-timestamp, webhook-signature"):
        verify(BODY, stripped, OLD)
