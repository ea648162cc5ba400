"""Endpoint secrets sealed at rest (aws/kms.py; issue 13 item 6) on moto's KMS: what the item holds,
what opens where, how often KMS is called, and items written before sealing."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import replace

import pytest
from tests.receivers import Receiver
from tests.test_delivery import publish, pump

from litestore_webhooks import delivery
from litestore_webhooks.aws import clients, event_sources
from litestore_webhooks.aws.kms import FORMAT, DataKeyCache, SealError, SecretBox
from litestore_webhooks.aws.store import Store
from litestore_webhooks.config import Settings
from litestore_webhooks.core.endpoint import PreviousSecret, SigningSecrets
from litestore_webhooks.provisioning import SEALED_SECRETS, Provisioner, load_endpoint_and_secrets, secrets_of

SECRET = "kms-test-secret-123"
OLD = PreviousSecret(secret="kms-old-secret-456", expiresAt="2099-01-01T00:00:00.000Z")


@pytest.fixture
def settings(aws: Settings):
    event_sources.use(event_sources.LocalEventSources())
    yield replace(aws, allow_insecure=True)
    event_sources.use(None)


@pytest.fixture
def kms_calls() -> Counter[str]:
    """KMS operations this process makes, counted as botocore sends them."""
    calls: Counter[str] = Counter()
    clients.client("kms").meta.events.register("before-call.kms", lambda model, **_: calls.update([model.name]))
    return calls


def box(settings: Settings, cache: DataKeyCache | None = None) -> SecretBox:
    return SecretBox(settings.secrets_key_arn, cache=cache)


def raw_item(settings: Settings, endpoint_id: str) -> dict:
    """The item exactly as DynamoDB holds it."""
    return clients.client("dynamodb").get_item(
        TableName=settings.endpoints_table, Key={"id": {"S": endpoint_id}}, ConsistentRead=True
    )["Item"]


_names = itertools.count(1)


def create(settings: Settings, url: str = "https://hooks.example.com/in", **spec) -> str:
    """An endpoint with its own name each call (names are unique; the default is the URL's host)."""
    prov = Provisioner(settings)
    spec.setdefault("name", f"kms test {next(_names)}")
    return prov.create(prov.parse_spec({"url": url, "events": ["*"], "secret": SECRET, **spec})).id


def test_seal_and_open_round_trip_and_the_sealed_value_holds_no_secret(settings, kms_calls):
    secrets = SigningSecrets(secret=SECRET, previousSecrets=[OLD])
    sealed = box(settings).seal("ep_aaaaaaaaaaaaaaaaaaaaaa", secrets)
    assert sealed.startswith(FORMAT + ".") and SECRET not in sealed and OLD.secret not in sealed
    assert box(settings).open("ep_aaaaaaaaaaaaaaaaaaaaaa", sealed) == secrets
    assert kms_calls == {"GenerateDataKey": 1, "Decrypt": 1}


def test_the_endpoint_item_holds_only_the_sealed_value(settings):
    endpoint_id = create(settings)
    item = raw_item(settings, endpoint_id)
    assert set(item[SEALED_SECRETS]) == {"S"} and "secret" not in item and "previousSecrets" not in item
    assert SECRET not in json.dumps(item)
    assert secrets_of(Store(settings).get_endpoint_item(endpoint_id), box(settings)).secret == SECRET


def test_a_sealed_value_opens_only_for_its_own_endpoint(settings):
    """Encryption context and AES-GCM associated data both name the endpoint: a value copied into
    another endpoint's item is refused, not used to sign that endpoint's deliveries."""
    mine, theirs = create(settings), create(settings)
    sealed = Store(settings).get_endpoint_item(mine)[SEALED_SECRETS]
    Store(settings).update_endpoint_fields(theirs, {SEALED_SECRETS: sealed})
    with pytest.raises(SealError, match=f"endpoint {theirs}: KMS Decrypt failed: InvalidCiphertextException"):
        load_endpoint_and_secrets(Store(settings), box(settings), theirs)
    # Even with the data key already in the cache (opened for `mine`), AES-GCM refuses it for `theirs`.
    cache = DataKeyCache()
    box(settings, cache).open(mine, sealed)
    key_arn, _, encrypted_key = next(iter(cache._keys))
    cache.put((key_arn, theirs, encrypted_key), cache.get((key_arn, mine, encrypted_key)))
    with pytest.raises(SealError, match="do not open"):
        box(settings, cache).open(theirs, sealed)


def test_an_altered_or_foreign_value_is_refused_without_echoing_it(settings):
    endpoint_id = create(settings)
    sealed = Store(settings).get_endpoint_item(endpoint_id)[SEALED_SECRETS]
    version, key, nonce, data = sealed.split(".")
    flipped = data[:-6] + ("A" if data[-6] != "A" else "B") + data[-5:]
    for value, why in [
        (".".join([version, key, nonce, flipped]), "do not open"),
        ("v0." + ".".join([key, nonce, data]), "not in the kms1 format"),
        (SECRET, "not in the kms1 format"),
    ]:
        with pytest.raises(SealError, match=why) as raised:
            box(settings).open(endpoint_id, value)
        assert SECRET not in str(raised.value) and data not in str(raised.value)
    other_key = clients.client("kms").create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(SealError, match="AccessDeniedException"):  # KeyId pins the stack's key
        SecretBox(other_key).open(endpoint_id, sealed)
    with pytest.raises(SealError, match="no KMS key configured"):
        SecretBox("").seal(endpoint_id, SigningSecrets(secret=SECRET))


def test_a_warm_delivery_container_calls_kms_once_per_data_key(settings, kms_calls):
    cache = DataKeyCache()
    with Receiver(secret=SECRET) as rx:
        prov = Provisioner(settings)
        endpoint = prov.create(prov.parse_spec({"url": rx.url(), "events": ["*"], "secret": SECRET}))
        _, res, _ = load_endpoint_and_secrets(prov.store, box(settings), endpoint.id)
        kms_calls.clear()
        for i in range(3):
            publish(res, f"evt_warm_{i}")
            assert delivery.process_batch(*_received(settings, res), data_keys=cache) == {"batchItemFailures": []}
        assert kms_calls == {"Decrypt": 1}
        # A rotation writes a new data key: one more Decrypt, then none again.
        from litestore_webhooks.admin.secrets import Rotation, rotate

        rx.secret = rotate(prov.store, box(settings), endpoint.id, Rotation(overlapSeconds=0))["secret"]
        kms_calls.clear()
        for i in range(2):
            publish(res, f"evt_rotated_{i}")
            assert delivery.process_batch(*_received(settings, res), data_keys=cache) == {"batchItemFailures": []}
        assert kms_calls == {"Decrypt": 1}
        assert all(q.verified for q in rx.wait_for(5))


def _received(settings: Settings, res) -> tuple[dict, Settings]:
    from tests.test_delivery import receive, sqs_event

    return sqs_event(res.queue_arn, receive(res.queue_url)), settings


def test_the_data_key_cache_is_bounded_and_keeps_the_newest():
    cache = DataKeyCache(max_keys=2)
    for i in range(3):
        cache.put(("key", f"ep_{i}", b"blob"), bytes([i]))
    assert len(cache) == 2 and cache.get(("key", "ep_0", b"blob")) is None
    assert cache.get(("key", "ep_2", b"blob")) == b"\x02"


# -- items written before secrets were sealed -----------------------------------------------


def _plaintext_endpoint(settings: Settings, url: str = "https://hooks.example.com/in") -> str:
    """An endpoint item as the version before sealing wrote it: secret and previousSecrets in plaintext."""
    endpoint_id = create(settings, url)
    Store(settings).update_endpoint_fields(
        endpoint_id,
        {
            SEALED_SECRETS: None,
            "secret": SECRET,
            "previousSecrets": [OLD.model_dump()],
        },
    )
    assert SECRET in json.dumps(raw_item(settings, endpoint_id))
    return endpoint_id


def test_a_plaintext_item_still_delivers_signed_with_its_secrets(settings):
    with Receiver(secret=OLD.secret) as rx:
        endpoint_id = _plaintext_endpoint(settings, rx.url())
        _, res, secrets = load_endpoint_and_secrets(Store(settings), box(settings), endpoint_id)
        assert secrets == SigningSecrets(secret=SECRET, previousSecrets=[OLD])
        publish(res)
        assert pump(settings, res) == {"batchItemFailures": []}
        (request,) = rx.wait_for(1)
    assert request.verified and len(request.headers["webhook-signature"].split()) == 2


@pytest.mark.parametrize("write", ["update", "empty update", "pause", "resume", "reconcile one", "reconcile all"])
def test_the_next_admin_write_seals_a_plaintext_item(settings, write):
    endpoint_id = _plaintext_endpoint(settings)
    prov = Provisioner(settings, secrets=box(settings))
    {
        "update": lambda: prov.update(endpoint_id, {"description": "x"}),
        "empty update": lambda: prov.update(endpoint_id, {}),
        "pause": lambda: prov.pause(endpoint_id),
        "resume": lambda: prov.resume(endpoint_id),
        "reconcile one": lambda: prov.reconcile(endpoint_id),
        "reconcile all": lambda: prov.reconcile(),
    }[write]()
    item = raw_item(settings, endpoint_id)
    assert "secret" not in item and "previousSecrets" not in item and SECRET not in json.dumps(item)
    assert secrets_of(Store(settings).get_endpoint_item(endpoint_id), box(settings)) == SigningSecrets(
        secret=SECRET, previousSecrets=[OLD]
    )


def test_delivery_never_seals_a_plaintext_item(settings, kms_calls):
    """Delivery may only decrypt: its pause after a 410 leaves the plaintext item for the admin API to seal."""
    endpoint_id = _plaintext_endpoint(settings)
    kms_calls.clear()
    Provisioner(settings).pause(endpoint_id, "gone")
    assert "secret" in raw_item(settings, endpoint_id) and kms_calls == {}


def test_rotating_a_plaintext_item_seals_it_with_the_old_secret_in_its_overlap(settings):
    from litestore_webhooks.admin.secrets import Rotation, rotate

    endpoint_id = _plaintext_endpoint(settings)
    rotated = rotate(Store(settings), box(settings), endpoint_id, Rotation(overlapSeconds=60))
    item = raw_item(settings, endpoint_id)
    assert "secret" not in item and SECRET not in json.dumps(item) and rotated["secret"] not in json.dumps(item)
    opened = secrets_of(Store(settings).get_endpoint_item(endpoint_id), box(settings))
    assert opened.secret == rotated["secret"]
    assert [p.secret for p in opened.previousSecrets] == [SECRET, OLD.secret]  # by expiresAt
