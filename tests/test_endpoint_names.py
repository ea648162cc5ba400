"""Endpoint names are unique (case, Unicode forms and spacing aside): the CLI and `endpoints apply`
use them as identifiers. The store on moto in process, then the API and CLI through the local runtime."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from tests.local_stack import rt  # noqa: F401 - the module-scoped runtime fixture
from tests.test_local_runtime import admin

from litestore_webhooks.aws import event_sources
from litestore_webhooks.aws.store import NameTaken, Store
from litestore_webhooks.core.endpoint import name_key
from litestore_webhooks.core.errors import ApiError
from litestore_webhooks.provisioning import Provisioner

URL = "https://hooks.example.com/in"


@pytest.fixture
def prov(aws):
    event_sources.use(event_sources.LocalEventSources())
    yield Provisioner(aws)
    event_sources.use(None)


def make(prov: Provisioner, name: str, url: str = URL) -> Any:
    return prov.create(prov.parse_spec({"name": name, "url": url, "events": ["*"]}))


def taken(call) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (409, "name_taken")
    return caught.value


def test_name_key_ignores_case_unicode_forms_and_spacing():
    assert {name_key(n) for n in ("Orders", "orders", "  ORDERS ", "ＯＲＤＥＲＳ")} == {"orders"}
    assert name_key("Order  Processing") == name_key("order processing") != name_key("Order-Processing")


# -- store and provisioner on moto ------------------------------------------------------
def test_a_second_endpoint_with_the_same_name_is_refused(prov):
    first = make(prov, "Orders")
    error = taken(lambda: make(prov, "orders ", url="https://other.example.com/in"))
    assert (
        error.message == f"an endpoint named 'orders ' already exists ({first.id}); rename it or use a different name"
    )
    assert error.details == {"name": "orders ", "endpointId": first.id}
    assert [e["name"] for e in prov.store.all_endpoint_items()] == ["Orders"]


def test_rename_claims_the_new_name_and_frees_the_old_one(prov):
    orders, billing = make(prov, "Orders"), make(prov, "Billing")
    error = taken(lambda: prov.update(billing.id, {"name": "ORDERS"}))
    assert orders.id in error.message and prov.store.get_endpoint_item(billing.id)["name"] == "Billing"
    assert prov.update(orders.id, {"name": "orders"}).name == "orders"  # only the case: the same name
    prov.update(orders.id, {"name": "Orders v2", "timeout": 2000})
    assert prov.store.get_endpoint_item(orders.id)["timeout"] == 2000
    assert make(prov, "Orders").name == "Orders"  # the old name is free again
    taken(lambda: make(prov, "orders v2"))


def test_delete_frees_the_name(prov):
    prov.delete(make(prov, "Orders").id)
    assert make(prov, "Orders").name == "Orders"
    assert len(list(prov.store.all_endpoint_items())) == 1


def test_a_stale_claim_is_taken_over(prov):
    """A claim whose endpoint is gone (or renamed without releasing it) does not block the name."""
    st = prov.store
    st.put_endpoint_item({"id": "name#orders", "endpointId": "ep_aaaaaaaaaaaaaaaaaaaaaa"})
    assert make(prov, "Orders").name == "Orders"
    renamed = make(prov, "Billing")
    st.update_endpoint_fields(renamed.id, {"name": "Invoices"})  # as if its claim had not moved along
    assert make(prov, "billing").name == "billing"


def test_reconcile_claims_old_names_and_reports_a_duplicate_pair_instead_of_failing(prov):
    """Endpoints from before names were unique: no claims, and perhaps two of one name."""
    first, second = (make(prov, name) for name in ("Legacy A", "Legacy B"))
    for endpoint in (first, second):
        prov.store.delete_endpoint_item(f"name#{name_key(endpoint.name)}")
        prov.store.update_endpoint_fields(endpoint.id, {"name": "Orders"})
    fixes = prov.reconcile()
    holder, other = (first, second) if f"{first.id}: claimed the name 'Orders'" in fixes else (second, first)
    report = (
        f"{other.id}: the name 'Orders' is also {holder.id}'s: rename one of them "
        f"(PATCH /endpoints/{other.id} with a new name)"
    )
    assert sorted(fixes) == sorted([f"{holder.id}: claimed the name 'Orders'", report])
    assert prov.reconcile() == [report]
    prov.update(other.id, {"name": "Orders (old)"})  # the one without the claim renames freely
    assert prov.reconcile() == []
    taken(lambda: make(prov, "orders"))


def test_deleting_the_duplicate_without_the_claim_keeps_the_others_claim(prov):
    first, second = make(prov, "Orders"), make(prov, "Other")
    prov.store.delete_endpoint_item(f"name#{name_key('Other')}")
    prov.store.update_endpoint_fields(second.id, {"name": "Orders"})
    prov.delete(second.id)
    taken(lambda: make(prov, "Orders"))
    prov.delete(first.id)
    assert make(prov, "Orders")


def test_listing_skips_name_claims_and_pages_stay_full(prov):
    made = {make(prov, f"hook {n}").id for n in range(7)}
    pages, cursor = [], None
    while True:
        page = prov.store.list_endpoint_items(limit=3, cursor=cursor)
        pages.append([i["id"] for i in page.items])
        if not (cursor := page.cursor):
            break
    assert [len(p) for p in pages if p] == [3, 3, 1] and {i for p in pages for i in p} == made


def test_a_long_name_whose_key_outgrows_a_dynamodb_key_still_claims(prov):
    name = "\ufdfa" * 100  # NFKC expands each to 18 characters: 5,400 bytes of key
    make(prov, name)
    taken(lambda: make(prov, name))


def test_claim_name_reports_the_holder(aws):
    st = Store(aws)
    st.put_endpoint_item({"id": "ep_aaaaaaaaaaaaaaaaaaaaaa", "name": "Orders"})
    st.put_endpoint_item({"id": "ep_bbbbbbbbbbbbbbbbbbbbbb", "name": "orders"})
    assert st.claim_name("ep_aaaaaaaaaaaaaaaaaaaaaa", "orders") is True
    assert st.claim_name("ep_aaaaaaaaaaaaaaaaaaaaaa", "orders") is False
    with pytest.raises(NameTaken) as caught:
        st.claim_name("ep_bbbbbbbbbbbbbbbbbbbbbb", "orders")
    assert caught.value.endpoint_id == "ep_aaaaaaaaaaaaaaaaaaaaaa"


# -- API and CLI through the local runtime --------------------------------------------------
def post(rt, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    from tests.test_local_runtime import call

    return call(
        rt,
        "POST",
        "/endpoints",
        {"url": "http://127.0.0.1:9/hooks", "events": ["*"], **body},
        {"Authorization": f"Bearer {rt.admin_token}", **(headers or {})},
    )


@pytest.fixture
def clean(rt):
    yield
    for endpoint in admin(rt, "GET", "/endpoints?limit=100")[1]["data"]:
        admin(rt, "DELETE", f"/endpoints/{endpoint['id']}")


def test_api_refuses_a_duplicate_name_on_create_and_rename_with_409(rt, clean):
    status, orders = post(rt, {"name": "Orders"})
    assert status == 201
    status, body = post(rt, {"name": "ORDERS"})
    assert (status, body) == (
        409,
        {
            "error": {
                "code": "name_taken",
                "message": f"an endpoint named 'ORDERS' already exists ({orders['id']}); rename it or use a different name",
                "details": {"name": "ORDERS", "endpointId": orders["id"]},
            }
        },
    )
    status, other = post(rt, {"name": "Billing"})
    status, body = admin(rt, "PATCH", f"/endpoints/{other['id']}", {"name": "orders"})
    assert (status, body["error"]["code"]) == (409, "name_taken")
    assert admin(rt, "GET", f"/endpoints/{other['id']}")[1]["name"] == "Billing"


def test_concurrent_creates_of_one_name_make_exactly_one_endpoint(rt, clean):
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(8)

    def create(n: int) -> None:
        start.wait()
        answers.append(post(rt, {"name": "Race", "url": f"http://127.0.0.1:9/hooks/{n}"}))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in answers) == [201] + [409] * 7
    assert {body["error"]["code"] for status, body in answers if status == 409} == {"name_taken"}
    assert [e["name"] for e in admin(rt, "GET", "/endpoints?limit=100")[1]["data"]] == ["Race"]


def test_an_idempotent_create_still_replays_its_endpoint(rt, clean):
    first = post(rt, {"name": "Orders"}, {"Idempotency-Key": "names-1"})
    again = post(rt, {"name": "Orders"}, {"Idempotency-Key": "names-1"})
    assert first[0] == again[0] == 201 and first[1]["id"] == again[1]["id"]
    assert post(rt, {"name": "Orders"}, {"Idempotency-Key": "names-2"})[0] == 409


def test_after_a_refused_duplicate_the_cli_still_goes_by_the_name(rt, clean, tmp_path, capsys):
    """The reported defect: a second `Orders` was accepted, then `rotate-secret Orders` and `apply` failed."""
    from litestore_webhooks import cli

    assert post(rt, {"name": "Orders"})[0] == 201
    assert post(rt, {"name": "Orders", "url": "http://127.0.0.1:9/elsewhere"})[0] == 409
    assert cli.main(["--local", "endpoints", "rotate-secret", "Orders"]) == 0
    config = tmp_path / "webhooks.json"
    config.write_text(json.dumps([{"name": "Orders", "url": "http://127.0.0.1:9/hooks", "events": ["order.*"]}]))
    assert cli.main(["--local", "endpoints", "apply", str(config), "--yes"]) == 0
    assert "plan: 0 to create, 1 to update" in capsys.readouterr().out


def test_apply_matches_names_as_the_api_compares_them(rt, clean, tmp_path, capsys):
    """`billing` in the file is the existing `Billing`: updated in place, never a rename of another
    endpoint into a name that is taken (which the API now refuses)."""
    from litestore_webhooks import cli

    url = {n: f"http://127.0.0.1:9/{n}" for n in (1, 2)}
    ids = {name: post(rt, {"name": name, "url": url[n]})[1]["id"] for n, name in ((1, "Orders"), (2, "Billing"))}
    config = tmp_path / "webhooks.json"
    config.write_text(
        json.dumps(
            [{"name": "billing", "url": url[1], "events": ["*"]}, {"name": "Orders", "url": url[2], "events": ["*"]}]
        )
    )
    assert cli.main(["--local", "--json", "endpoints", "apply", str(config), "--yes"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert [(s["action"], s["id"], s["changes"]) for s in plan] == [
        ("update", ids["Billing"], ["name", "url"]),
        ("update", ids["Orders"], ["url"]),
    ]
    listed = {e["id"]: (e["name"], e["url"]) for e in admin(rt, "GET", "/endpoints")[1]["data"]}
    assert listed == {ids["Billing"]: ("billing", url[1]), ids["Orders"]: ("Orders", url[2])}


def test_apply_refuses_a_file_that_names_one_endpoint_twice(tmp_path, capsys):
    from litestore_webhooks import cli

    config = tmp_path / "webhooks.json"
    config.write_text(json.dumps([{"name": n, "url": URL, "events": ["*"]} for n in ("Orders", "orders")]))
    assert cli.main(["--url", "http://127.0.0.1:9", "endpoints", "apply", str(config)]) == 1
    assert "endpoint names must be unique (case and spacing aside); repeated: Orders" in capsys.readouterr().err
