"""schemathesis against the local runtime's admin API, loaded from its own GET /v1/openapi.json.

Every operation gets schema-valid (positive) and schema-invalid (negative) requests, once with
random path ids and once with the id of a real endpoint (and a real stored event), so the
handlers behind the 404s are reached too. Checks: no 5xx, every status code and content type
documented, every response (errors included) matching its documented schema, and invalid
input refused with a 4xx. Generation is derandomized (a fixed seed per operation), so a run is
repeatable; cases it once found are kept below as explicit regression tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from tests.local_stack import create_endpoint, event, rt  # noqa: F401 - rt: the module-scoped runtime
from tests.receivers import Receiver
from tests.test_local_runtime import admin, ingest

EXAMPLES = 12  # per operation, mode and id source: ~15 s on an idle 2-core machine, under a minute loaded
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
)
EVENT_ID = "evt_fuzz_1"
EVENT_TYPE = "fuzz.target"


@pytest.fixture
def target(rt):
    """A live endpoint (with a receiver), a stored event and an event type of the operator's, for the
    fuzzer's fixed-id runs (which delete them)."""
    with Receiver() as rx:
        endpoint = create_endpoint(rt, "fuzz target", rx.url(), ["*"], retryPolicy={"maxAttempts": 1})
        assert ingest(rt, event("user.registered", EVENT_ID))[0] in (200, 202)
        assert admin(
            rt, "POST", "/event-types", {"name": EVENT_TYPE, "description": "Fuzzed.", "schema": {"type": "object"}}
        )[0] in (201, 409)
        yield {"endpoint_id": endpoint["id"], "event_id": EVENT_ID, "name": EVENT_TYPE}
        assert admin(rt, "DELETE", f"/endpoints/{endpoint['id']}")[0] in (204, 404)  # its name is free again
        assert admin(rt, "DELETE", f"/event-types/{EVENT_TYPE}")[0] in (204, 404)


def load_schema(rt) -> Any:
    request = urllib.request.Request(
        rt.base_url + "/openapi.json", headers={"Authorization": f"Bearer {rt.admin_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        schema = schemathesis.openapi.from_dict(json.load(resp))
    # The harness sends the admin token on every case, so a case without it (or with a mangled one)
    # would be sent authenticated anyway; auth refusals have their own tests (test_reliability_auth,
    # test_console_access). Unknown query parameters are ignored by design (a newer console's filter
    # reaching an older API), so an extra one is not invalid input.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    return schema


def fuzz(rt, operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None) -> list[str]:
    """Run EXAMPLES generated cases; returns one report per distinct (check, status) failure."""
    auth = {"Authorization": f"Bearer {rt.admin_token}"}
    found: dict[tuple[str, int], str] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        response = case.call(base_url=rt.base_url, headers=auth, timeout=30)
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check], headers=auth)
            except (AssertionError, BaseExceptionGroup) as failure:
                key = (check.__name__, response.status_code)
                found.setdefault(
                    key, f"{operation.label} [{mode.value}] {check.__name__}: {failure}\n  {case.as_curl_command()}"
                )

    try:
        run()
    except Unsatisfiable:  # e.g. no way to make an invalid request to a route without parameters
        pass
    return list(found.values())


def test_admin_api_survives_schemathesis(rt, target):
    schema = load_schema(rt)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the fixed-id runs of the other operations still find the endpoint.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    started = time.monotonic()
    failures: list[str] = []
    for operation in operations:
        fixed = {name: value for name, value in target.items() if "{" + name + "}" in operation.path}
        for path_parameters in [None, fixed] if fixed else [None]:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += fuzz(rt, operation, mode, path_parameters)
    print(f"schemathesis: {len(operations)} operations in {time.monotonic() - started:.1f}s")
    assert not failures, "\n\n".join(failures)


# Cases schemathesis found, kept as they were generated (fixed since).
def test_replay_over_millennia_answers_at_once(rt, target):
    """Was a one-query-per-day scan from year 383 to 3098: the API timed out (a 504 behind API Gateway)."""
    started = time.monotonic()
    status, body = admin(
        rt,
        "POST",
        f"/endpoints/{target['endpoint_id']}/replay",
        {"until": "3098-07-14T00:31:50.90Z", "since": "0383-04-27T12:10:59.4884Z"},
    )
    assert status == 200 and body["queued"] >= 1 and body["truncated"] is False, body
    assert time.monotonic() - started < 5


def test_resend_to_an_empty_endpoint_id_is_a_400(rt, target):
    """Was a 500: DynamoDB refuses an empty key value."""
    status, body = admin(rt, "POST", f"/events/{EVENT_ID}/resend", {"endpointIds": [""]})
    assert status == 400 and body["error"]["code"] == "validation_failed"
    assert body["error"]["details"][0]["path"] == "endpointIds[0]"


def test_a_number_is_no_date(rt, target):
    """Was a 200: pydantic read `since=895772` as a Unix timestamp (1970-01-11); dates are ISO-8601 only."""
    status, body = admin(rt, "GET", f"/endpoints/{target['endpoint_id']}/attempts?since=895772")
    assert status == 400 and body["error"]["details"][0]["path"] == "query.since", body
    status, body = admin(rt, "POST", f"/endpoints/{target['endpoint_id']}/replay", {"since": 0, "until": 1})
    assert status == 400 and {d["path"] for d in body["error"]["details"]} == {"body.since", "body.until"}, body


@pytest.mark.parametrize("path", ["/endpoints/ep_" + "a" * 2100, "/events/" + "e" * 2100])
def test_ids_longer_than_a_key_can_be_are_404(rt, path):
    """DynamoDB refuses keys over 2 KB (moto does not): such ids never reach it."""
    status, body = admin(rt, "GET", path)
    assert status == 404 and body["error"]["code"] == "not_found"


def test_openapi_documents_the_answers_actually_served(rt):
    """Was: every operation documented 200 and a 422 HTTPValidationError; the API answers 201/204,
    and 400/404/409/413/415 in the one error shape (schemathesis: undocumented status codes)."""
    doc = load_schema(rt).raw_schema
    responses = {(method, path): ops[method]["responses"] for path, ops in doc["paths"].items() for method in ops}
    assert set(responses[("post", "/endpoints")]) == {"201", "4XX"}
    assert responses[("delete", "/endpoints/{endpoint_id}")]["204"] == {"description": "No Content"}
    for answers in responses.values():
        assert "422" not in answers
        assert answers["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "HTTPValidationError" not in json.dumps(doc)


@pytest.mark.parametrize(
    "route", ["/endpoints/{id}/secret/rotate", "/endpoints/{id}/dead-letters/redrive", "/portal/sessions"]
)
def test_a_null_body_is_no_object(rt, target, route):
    """Was a 200 (schemathesis, on the merged tree): a JSON null where an optional object body goes
    was taken for no body at all and the defaults applied (here: a rotated secret)."""
    request = urllib.request.Request(
        rt.base_url + route.replace("{id}", target["endpoint_id"]),
        data=b"null",
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {rt.admin_token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(refused.value.read())
    assert refused.value.code == 400 and body["error"]["details"][0]["path"] == "body", body


def test_a_test_send_of_an_empty_event_type_is_a_400(rt, target):
    """Was a 500 (schemathesis, with the stored catalog): DynamoDB refuses an empty key value."""
    status, body = admin(rt, "POST", f"/endpoints/{target['endpoint_id']}/test", {"event": ""})
    assert status == 400 and body["error"]["details"][0]["path"] == "event", body
    assert admin(rt, "GET", "/event-types/" + "a." * 600)[0] == 400  # a name too long for a key never reaches it
