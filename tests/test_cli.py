"""The operator CLI, run in-process against a fake admin/ingest API on 127.0.0.1.

The fake records every request (method, path, query, headers, JSON body) and answers with
canned API responses, so each test pins exactly what the CLI sends and what it prints.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import threading
from dataclasses import dataclass
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from litestore_webhooks import cli
from litestore_webhooks.cli import apply, client, output, profile
from litestore_webhooks.cli.times import parse_when

ADMIN_TOKEN = "adm_token_1"
API_KEY = "key_abc"
SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMw=="
EP1 = "ep_aaaaaaaaaaaaaaaaaaaaaa"
EP2 = "ep_bbbbbbbbbbbbbbbbbbbbbb"
EP3 = "ep_cccccccccccccccccccccc"


def endpoint(eid: str, name: str, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": eid,
        "name": name,
        "url": url,
        "events": events,
        "active": True,
        "retryPolicy": {"maxAttempts": 5, "backoffMultiplier": 2.0, "initialDelay": 1000, "maxDelay": 30000},
        "description": None,
        "timeout": 10000,
        "maxConcurrency": 10,
        "pausedReason": None,
        "failingSince": None,
        "consecutiveFailures": 0,
        "createdAt": "2024-01-15T10:00:00.000Z",
        "updatedAt": "2024-01-15T10:00:00.000Z",
        **extra,
    }


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeApi:
    """Routes (method, path) -> queued (status, body) answers; the last answer repeats."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.seen: list[Seen] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = parts.path.removeprefix("/v1")
                api.seen.append(
                    Seen(
                        self.command,
                        path,
                        dict(parse_qsl(parts.query)),
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None,
                    )
                )
                answers = api.routes.get((self.command, path))
                if answers is None:
                    status, body = 404, {"error": {"code": "not_found", "message": f"no route {path}", "details": []}}
                else:
                    status, body = answers.pop(0) if len(answers) > 1 else answers[0]
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def on(self, method: str, path: str, *answers: Any, status: int = 200) -> None:
        self.routes[(method, path)] = [a if isinstance(a, tuple) else (status, a) for a in answers]

    def calls(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.seen if method is None or s.method == method]


@pytest.fixture
def api(monkeypatch, tmp_path):
    for name in ("LITESTORE_WEBHOOKS_URL", "LITESTORE_WEBHOOKS_ADMIN_TOKEN", "LITESTORE_WEBHOOKS_API_KEY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fake = FakeApi()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def run(api, capsys):
    """main() against the fake API with a bearer token; returns (exit code, stdout, stderr)."""

    def _run(*argv: str, target: bool = True) -> tuple[int, str, str]:
        prefix = ["--url", api.url, "--admin-token", ADMIN_TOKEN, "--api-key", API_KEY] if target else []
        code = cli.main([*prefix, *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


def page(*items: Any, cursor: str | None = None) -> dict[str, Any]:
    return {"data": list(items), "nextCursor": cursor}


# -- endpoints ------------------------------------------------------------------------------


def test_list_prints_an_aligned_table_and_sends_the_admin_token(api, run):
    api.on(
        "GET",
        "/endpoints",
        page(
            endpoint(EP1, "Order Processing", "https://a.example/h", ["product.purchased"]),
            endpoint(EP2, "Analytics", "https://b.example/h", ["*"], active=False, pausedReason="manual"),
        ),
    )
    code, out, err = run("endpoints", "list", "--limit", "5")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "URL", "EVENTS", "STATUS"]
    assert lines[1].index("Order Processing") == lines[2].index("Analytics") == lines[0].index("NAME")
    assert lines[2].endswith("paused (manual)") and "\x1b[" not in out  # not a terminal: no colour
    seen = api.seen[0]
    assert (seen.method, seen.path, seen.query) == ("GET", "/endpoints", {"limit": "5"})
    assert seen.headers["authorization"] == f"Bearer {ADMIN_TOKEN}" and "x-api-key" not in seen.headers


def test_json_prints_the_api_response_exactly_and_global_options_work_after_the_command(api, run):
    body = page(endpoint(EP1, "A", "https://a.example/h", ["*"]), cursor="c1")
    api.on("GET", "/endpoints", body)
    code, out, err = run("endpoints", "list", "--json")
    assert code == 0 and json.loads(out) == body and err == ""


def test_list_all_follows_cursors(api, run):
    api.on(
        "GET",
        "/endpoints",
        page(endpoint(EP1, "A", "https://a.example/h", ["*"]), cursor="next1"),
        page(endpoint(EP2, "B", "https://b.example/h", ["*"])),
    )
    code, out, _ = run("--json", "endpoints", "list", "--all")
    assert code == 0
    assert [e["id"] for e in json.loads(out)["data"]] == [EP1, EP2]
    assert [s.query for s in api.seen] == [{"limit": "100"}, {"limit": "100", "cursor": "next1"}]  # largest pages


def test_one_page_hints_at_more_on_stderr(api, run):
    api.on("GET", "/endpoints", page(endpoint(EP1, "A", "https://a.example/h", ["*"]), cursor="next1"))
    _, out, err = run("endpoints", "list")
    assert "next1" not in out and "--cursor next1" in err


def test_not_found_is_one_line_with_details_only_under_verbose(api, run):
    api.on(
        "GET",
        f"/endpoints/{EP1}",
        (404, {"error": {"code": "not_found", "message": f"endpoint {EP1} not found", "details": [{"path": "id"}]}}),
    )
    code, out, err = run("endpoints", "show", EP1)
    assert (code, out, err) == (1, "", f"error: endpoint {EP1} not found (not_found)\n")
    code, _, err = run("-v", "endpoints", "show", EP1)
    assert code == 1 and err.startswith(f"error: endpoint {EP1} not found (not_found)\n") and '"path": "id"' in err


def test_endpoint_names_resolve_to_ids(api, run):
    api.on("GET", "/endpoints", page(endpoint(EP1, "Order Processing", "https://a.example/h", ["*"])))
    api.on(
        "POST",
        f"/endpoints/{EP1}/pause",
        endpoint(EP1, "Order Processing", "https://a.example/h", ["*"], active=False, pausedReason="manual"),
    )
    code, out, _ = run("endpoints", "pause", "Order Processing")
    assert code == 0 and out == f"paused {EP1}\n"
    assert api.calls() == [("GET", "/endpoints"), ("POST", f"/endpoints/{EP1}/pause")]
    assert api.seen[1].body == {}
    code, _, err = run("endpoints", "show", "Nope")
    assert code == 1 and err == "error: no endpoint named 'Nope' (give its id, ep_..., or its exact name)\n"


def test_create_sends_the_spec_and_shows_the_secret_once(api, run):
    created = {**endpoint(EP1, "Orders", "https://a.example/h", ["product.purchased", "order.*"]), "secret": SECRET}
    api.on("POST", "/endpoints", created, status=201)
    code, out, err = run(
        "endpoints",
        "create",
        "https://a.example/h",
        "--events",
        "product.purchased,order.*",
        "--name",
        "Orders",
        "--max-attempts",
        "8",
        "--timeout",
        "5000",
        "--inactive",
    )
    assert code == 0
    assert api.seen[0].body == {
        "url": "https://a.example/h",
        "events": ["product.purchased", "order.*"],
        "name": "Orders",
        "active": False,
        "timeout": 5000,
        "retryPolicy": {"maxAttempts": 8},
    }
    assert out.count(SECRET) == 1 and "shown once" in err


def test_update_sends_changed_fields_and_the_whole_retry_policy(api, run):
    current = endpoint(EP1, "A", "https://a.example/h", ["*"])
    api.on("GET", f"/endpoints/{EP1}", current)
    api.on("PATCH", f"/endpoints/{EP1}", current)
    code, _, _ = run(
        "endpoints", "update", EP1, "--endpoint-url", "https://new.example/h", "--max-delay", "60000", "--no-active"
    )
    assert code == 0
    assert api.seen[-1].body == {
        "url": "https://new.example/h",
        "active": False,
        "retryPolicy": {"maxAttempts": 5, "backoffMultiplier": 2.0, "initialDelay": 1000, "maxDelay": 60000},
    }
    code, _, err = run("endpoints", "update", EP1)
    assert code == 2 and err.startswith("error: nothing to update")


def test_delete_resume_and_rotate_never_print_the_secret(api, run):
    api.on("DELETE", f"/endpoints/{EP1}", (204, None))
    api.on("POST", f"/endpoints/{EP1}/resume", endpoint(EP1, "A", "https://a.example/h", ["*"]))
    api.on(
        "POST", f"/endpoints/{EP1}/secret/rotate", {"secret": SECRET, "previousSecretExpiresAt": "2024-01-16T00:00:00Z"}
    )
    assert run("endpoints", "delete", EP1, "--yes")[:2] == (0, f"deleted {EP1}\n")
    assert run("endpoints", "resume", EP1)[:2] == (0, f"resumed {EP1}\n")
    code, out, err = run("endpoints", "rotate-secret", EP1, "--overlap", "2h")
    assert code == 0 and SECRET not in out + err and "2024-01-16T00:00:00Z" in out
    assert api.seen[-1].body == {"overlapSeconds": 7200}


def test_rotate_secret_revoke_previous_sends_the_flag(api, run):
    api.on(
        "POST",
        f"/endpoints/{EP1}/secret/rotate",
        {"secret": SECRET, "previousSecretExpiresAt": None, "previousSecrets": []},
    )
    code, out, err = run("endpoints", "rotate-secret", EP1, "--overlap", "0", "--revoke-previous")
    assert code == 0 and SECRET not in out + err
    assert api.seen[-1].body == {"overlapSeconds": 0, "revokePrevious": True}


def test_secret_prints_it(api, run):
    api.on(
        "GET",
        f"/endpoints/{EP1}/secret",
        {"secret": SECRET, "previousSecrets": [{"expiresAt": "2024-01-16T00:00:00Z"}]},
    )
    code, out, err = run("endpoints", "secret", EP1)
    assert (code, out) == (0, SECRET + "\n") and "2024-01-16T00:00:00Z" in err


def test_test_command_fails_with_exit_1_when_the_delivery_fails(api, run):
    attempt = {
        "endpointId": EP1,
        "eventId": "evt_1",
        "eventType": "review.created",
        "attempt": 1,
        "at": "2024-01-15T10:00:00Z",
        "status": "failed",
        "httpStatus": 500,
        "error": "HTTP 500",
        "durationMs": 12,
        "responseExcerpt": "boom",
        "nextRetryAt": None,
        "test": True,
    }
    api.on("POST", f"/endpoints/{EP1}/test", attempt)
    code, out, err = run("endpoints", "test", EP1, "--event", "review.created")
    assert api.seen[0].body == {"event": "review.created"}
    assert code == 1 and "boom" in out and err == f"error: test delivery to {EP1} failed: HTTP 500\n"
    api.on("POST", f"/endpoints/{EP1}/test", {**attempt, "status": "delivered", "httpStatus": 200, "error": None})
    assert run("endpoints", "test", EP1, "--event", "review.created")[0] == 0


def test_secrets_echoed_in_error_details_are_redacted(api, run):
    api.on(
        "POST",
        "/endpoints",
        (
            400,
            {
                "error": {
                    "code": "validation_failed",
                    "message": f"secret: bad {SECRET}",
                    "details": [{"path": "secret", "input": SECRET}],
                }
            },
        ),
    )
    code, out, err = run("-v", "endpoints", "create", "https://a.example/h", "--events", "*", "--secret", SECRET)
    assert code == 1 and SECRET not in out + err and "***" in err


# -- attempts, stats, events ------------------------------------------------------------------


def test_attempts_filters_and_table(api, run):
    api.on(
        "GET",
        f"/endpoints/{EP1}/attempts",
        page(
            {
                "at": "2024-01-15T10:00:00Z",
                "eventId": "evt_1",
                "eventType": "review.created",
                "attempt": 2,
                "status": "failed",
                "httpStatus": 503,
                "durationMs": 40,
                "error": "HTTP 503",
            }
        ),
    )
    code, out, _ = run("attempts", EP1, "--status", "failed", "--since", "2024-01-15T00:00:00+01:00", "--limit", "20")
    assert code == 0 and api.seen[0].query == {"status": "failed", "since": "2024-01-14T23:00:00Z", "limit": "20"}
    assert out.splitlines()[1].split()[:6] == ["2024-01-15T10:00:00Z", "evt_1", "review.created", "2", "failed", "503"]


def test_attempts_event_type_until_and_a_short_page_filled_from_the_next(api, run):
    row = {"at": "2024-01-15T10:00:00Z", "eventType": "order.updated", "attempt": 1, "status": "dead_lettered"}
    api.on(
        "GET",
        f"/endpoints/{EP1}/attempts",
        page(cursor="c1"),
        page({**row, "eventId": "evt_1"}, cursor="c2"),
        page({**row, "eventId": "evt_2"}, cursor="c3"),
    )
    code, out, err = run(
        "attempts", EP1, "--status", "failed", "--event-type", "order.*", "--until", "2024-01-16", "--limit", "2"
    )
    filters = {"status": "failed", "eventType": "order.*", "until": "2024-01-16T00:00:00Z"}
    assert [s.query for s in api.seen] == [
        {**filters, "limit": "2"},
        {**filters, "limit": "2", "cursor": "c1"},
        {**filters, "limit": "1", "cursor": "c2"},
    ]
    assert code == 0 and "evt_1" in out and "evt_2" in out and "--cursor c3" in err


def test_stats(api, run):
    api.on(
        "GET",
        f"/endpoints/{EP1}/stats",
        {
            "window": "1h",
            "attempts": 10,
            "delivered": 9,
            "failed": 1,
            "byStatusClass": {"2xx": 9, "5xx": 1},
            "latencyMs": {"p50": 20, "p99": 90},
            "queueDepth": 0,
            "inFlight": 0,
            "deadLetterDepth": 1,
            "active": True,
            "pausedReason": None,
        },
    )
    code, out, _ = run("stats", EP1, "--window", "1h")
    assert code == 0 and api.seen[0].query == {"window": "1h"}
    assert "2xx: 9, 5xx: 1" in out and "20 / 90 ms" in out


def test_publish_one_event_uses_the_api_key_only(api, run):
    api.on("POST", "/events", {"id": "evt_1", "event": "review.created", "duplicate": False}, status=202)
    code, out, _ = run("events", "publish", "--type", "review.created", "--data", '{"reviewId": "r1"}', "--id", "evt_1")
    assert code == 0 and out == "accepted evt_1 (review.created)\n"
    seen = api.seen[0]
    assert seen.body == {"event": "review.created", "data": {"reviewId": "r1"}, "id": "evt_1"}
    assert seen.headers["x-api-key"] == API_KEY and "authorization" not in seen.headers


def test_publish_a_batch_file_reports_rejected_items(api, run, tmp_path):
    events = [{"event": "review.created", "data": {}}, {"event": "nope", "data": {}}]
    (tmp_path / "batch.json").write_text(json.dumps({"events": events}))
    api.on(
        "POST",
        "/events/batch",
        {
            "results": [
                {
                    "index": 0,
                    "id": "evt_1",
                    "event": "review.created",
                    "status": 202,
                    "duplicate": False,
                    "error": None,
                },
                {
                    "index": 1,
                    "id": None,
                    "event": "nope",
                    "status": 400,
                    "duplicate": False,
                    "error": {"code": "validation_failed", "message": "unknown event type", "details": []},
                },
            ]
        },
        status=207,
    )
    code, out, err = run("events", "publish", str(tmp_path / "batch.json"))
    assert api.seen[0].path == "/events/batch" and api.seen[0].body == {"events": events}
    assert code == 1 and "accepted" in out and "rejected" in out
    assert err == "error: 1 of 2 event(s) rejected; first: unknown event type (validation_failed)\n"


def _batch_answer(chunk: list[dict], first_id: int) -> dict:
    return {
        "results": [
            {
                "index": n,
                "id": f"evt_{first_id + n}",
                "event": e["event"],
                "status": 202,
                "duplicate": False,
                "error": None,
            }
            for n, e in enumerate(chunk)
        ]
    }


def test_publish_a_file_of_250_events_sends_batches_of_100_in_order(api, run, tmp_path):
    events = [{"event": "review.created", "id": f"evt_{i}", "data": {"n": i}} for i in range(250)]
    (tmp_path / "many.json").write_text(json.dumps(events))
    api.on(
        "POST",
        "/events/batch",
        _batch_answer(events[:100], 0),
        _batch_answer(events[100:200], 100),
        _batch_answer(events[200:], 200),
        status=202,
    )
    code, out, _ = run("--json", "events", "publish", str(tmp_path / "many.json"))
    assert code == 0
    assert [len(s.body["events"]) for s in api.seen] == [100, 100, 50]
    assert [e for s in api.seen for e in s.body["events"]] == events
    results = json.loads(out)["results"]
    assert [r["index"] for r in results] == list(range(250)) and [r["id"] for r in results] == [e["id"] for e in events]


def test_publish_splits_by_body_size_too():
    from litestore_webhooks import resources
    from litestore_webhooks.cli.events import batches

    big = [{"event": "review.created", "id": f"evt_{i}", "data": {"text": "x" * 200_000}} for i in range(60)]
    chunks = list(batches(big))
    assert [e for c in chunks for e in c] == big and len(chunks) == 3
    assert all(len(json.dumps({"events": c}).encode()) <= resources.MAX_BATCH_BODY_BYTES for c in chunks)


def test_publish_goes_on_after_a_batch_the_api_refuses_whole_and_reports_it(api, run, tmp_path):
    events = [{"event": "review.created", "id": f"evt_{i}", "data": {}} for i in range(150)]
    (tmp_path / "many.json").write_text(json.dumps(events))
    refused = [
        {
            "index": n,
            "id": None,
            "event": "review.created",
            "status": 400,
            "duplicate": False,
            "error": {"code": "validation_failed", "message": "bad data", "details": []},
        }
        for n in range(100)
    ]
    api.on(
        "POST",
        "/events/batch",
        (
            400,
            {"error": {"code": "validation_failed", "message": "no event in the batch is valid", "details": refused}},
        ),
        (202, _batch_answer(events[100:], 100)),
    )
    code, out, err = run("events", "publish", str(tmp_path / "many.json"))
    assert [len(s.body["events"]) for s in api.seen] == [100, 50]
    assert out.splitlines()[0] == "150 events: 50 accepted, 0 duplicates, 100 rejected"
    assert code == 1 and out.count("rejected") == 1 + 100 and out.count("accepted") == 1  # rows: the failures only
    assert err == "error: 100 of 150 event(s) rejected; first: bad data (validation_failed)\n"


def test_publish_stops_on_an_unexpected_failure_and_says_what_was_accepted(api, run, tmp_path):
    events = [{"event": "review.created", "id": f"evt_{i}", "data": {}} for i in range(150)]
    (tmp_path / "many.json").write_text(json.dumps(events))
    api.on("POST", "/events/batch", (202, _batch_answer(events[:100], 0)), (403, {"message": "Forbidden"}))
    code, _, err = run("events", "publish", str(tmp_path / "many.json"))
    assert code == 1 and len(api.seen) == 2
    assert err == (
        "error: HTTP 403: Forbidden; stopped at event 100 of 150 (100 accepted before it; "
        "publishing again with ids is safe)\n"
    )


def test_events_show_attempts_and_resend(api, run):
    api.on(
        "GET",
        "/events/evt_1",
        {
            "id": "evt_1",
            "event": "review.created",
            "timestamp": "2024-01-15T16:00:00Z",
            "receivedAt": "2024-01-15T16:00:01Z",
            "payload": {"reviewId": "review-333"},
        },
    )
    api.on("GET", "/events/evt_1/attempts", page({"endpointId": EP1, "attempt": 1, "status": "delivered"}))
    api.on("POST", "/events/evt_1/resend", {"queued": 1})
    api.on("GET", "/endpoints", page(endpoint(EP1, "Order Processing", "https://a.example/h", ["*"])))
    assert '"reviewId": "review-333"' in run("events", "show", "evt_1")[1]
    assert run("events", "attempts", "evt_1")[1].splitlines()[1].split()[:3] == ["-", EP1, "Order"]
    code, out, _ = run("events", "resend", "evt_1", "--endpoint", EP1)
    assert code == 0 and api.seen[-1].body == {"endpointIds": [EP1]} and "queued 1" in out


def test_event_types(api, run):
    listed = {
        "name": "review.created",
        "description": "A review",
        "schema": {},
        "examples": [],
        "version": 2,
        "mode": "enforce",
        "origin": "document",
        "deprecated": True,
        "group": "Reviews",
    }
    api.on("GET", "/event-types", {"data": [listed], "nextCursor": None})
    lines = run("event-types", "list")[1].splitlines()
    assert lines[0].split() == ["TYPE", "V", "MODE", "STATUS", "ORIGIN", "GROUP", "DESCRIPTION"]
    assert lines[1].split() == ["review.created", "2", "enforce", "deprecated", "document", "Reviews", "A", "review"]
    assert json.loads(run("--json", "event-types", "list")[1])["data"] == [listed]


# -- dead letters and replay ---------------------------------------------------------------------


def test_dlq_list_and_show(api, run):
    letter = {
        "id": "evt_1",
        "messageId": "m-1",
        "event": "review.created",
        "reason": "max_attempts",
        "lastStatus": 500,
        "lastError": "HTTP 500",
        "attempts": 5,
        "firstAttemptAt": "2024-01-15T10:00:00Z",
        "lastAttemptAt": "2024-01-15T10:05:00Z",
    }
    api.on("GET", f"/endpoints/{EP1}/dead-letters", {"data": [letter], "approximateCount": 1})
    code, out, err = run("dlq", "list", EP1, "--limit", "10")
    assert code == 0 and "max_attempts" in out and "about 1 message" in err and api.seen[0].query == {"limit": "10"}
    code, out, _ = run("dlq", "show", EP1, "m-1")
    assert code == 0 and "HTTP 500" in out and api.seen[1].query == {"limit": "1000"}


def test_redrive_all_repeats_while_the_api_reports_remaining(api, run):
    api.on(
        "POST",
        f"/endpoints/{EP1}/dead-letters/redrive",
        {"redriven": 3, "remaining": 2, "failed": 0},
        {"redriven": 2, "remaining": 0, "failed": 0},
    )
    code, out, err = run("dlq", "redrive", EP1)
    assert code == 0 and out == "redriven 5, remaining 0, failed 0\n" and err == ""  # no bar off a terminal
    assert [s.body for s in api.seen] == [{}, {}]


def test_redrive_ids_and_failures(api, run):
    api.on("POST", f"/endpoints/{EP1}/dead-letters/redrive", {"redriven": 1, "remaining": 4, "failed": 1})
    code, out, err = run("--json", "dlq", "redrive", EP1, "evt_1", "evt_2")
    assert api.seen[0].body == {"ids": ["evt_1", "evt_2"]}
    assert code == 1 and json.loads(out) == {"redriven": 1, "remaining": 4, "failed": 1}
    assert err == "error: 1 dead letter(s) could not be redriven; run redrive again\n"


def test_purge_needs_a_terminal_or_yes(api, run):
    api.on("DELETE", f"/endpoints/{EP1}/dead-letters", {"purged": 7})
    code, _, err = run("dlq", "purge", EP1)
    assert code == 2 and "pass --yes" in err and api.calls("DELETE") == []
    code, out, _ = run("dlq", "purge", EP1, "--yes")
    assert code == 0 and out == f"purged 7 dead letter(s) of {EP1}\n"
    assert api.seen[-1].query == {"confirm": "true"}


def test_purge_asks_on_a_terminal(api, run, monkeypatch):
    api.on("DELETE", f"/endpoints/{EP1}/dead-letters", {"purged": 7})
    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    code, _, err = run("dlq", "purge", EP1)
    assert code == 1 and "[y/N]" in err and "aborted" in err and api.calls("DELETE") == []
    monkeypatch.setattr("sys.stdin", Tty("y\n"))
    assert run("dlq", "purge", EP1)[0] == 0 and len(api.calls("DELETE")) == 1


def test_replay_follows_next_since(api, run):
    api.on(
        "POST",
        f"/endpoints/{EP1}/replay",
        {"queued": 100, "failed": 0, "truncated": True, "nextSince": "2024-01-15T06:00:00.000Z"},
        {"queued": 20, "failed": 0, "truncated": False, "nextSince": None},
    )
    code, out, _ = run(
        "replay", EP1, "--since", "2024-01-15", "--until", "2024-01-16", "--events", "order.*,review.created"
    )
    assert code == 0 and out == "queued 120 event(s) received from 2024-01-15T00:00:00Z to 2024-01-16T00:00:00Z\n"
    assert [s.body for s in api.seen] == [
        {"since": "2024-01-15T00:00:00Z", "until": "2024-01-16T00:00:00Z", "events": ["order.*", "review.created"]},
        {"since": "2024-01-15T06:00:00Z", "until": "2024-01-16T00:00:00Z", "events": ["order.*", "review.created"]},
    ]


def test_replay_usage_errors(api, run):
    assert run("replay", EP1, "--since", "today", "--until", "yesterday")[0] == 2
    code, _, err = run("replay", EP1, "--since", "last tuesday")
    assert code == 2 and err.count("\n") == 1 and "invalid time 'last tuesday'" in err
    assert api.seen == []


# -- apply -----------------------------------------------------------------------------------------

DOC_WEBHOOKS = """const webhooks = [
{
name: "Order Processing",
url: "https://api.order-processor.com/webhooks",
events: ["product.purchased", "order.updated"],
secret: "order-secret-123"
},
{
name: "Email Service",
url: "https://api.email-service.com/webhooks",
events: ["user.registered", "review.created"],
secret: "email-secret-456"
},
{
name: "Analytics",
url: "https://api.analytics.com/webhooks",
events: ["*"], // All events
secret: "analytics-secret-789"
}
]"""

DOC_CONFIG = """// Webhook configuration
const webhookConfig = {
url: "https://your-app.com/webhooks/litestore",
secret: "your-webhook-secret", // For signature verification
events: [
"content.submitted",
"content.approved",
"review.created",
"product.purchased",
"commission.earned"
],
active: true,
retryPolicy: {
maxAttempts: 5,
backoffMultiplier: 2,
initialDelay: 1000 // milliseconds
}
}"""

FILE_SECRETS = ("order-secret-123", "email-secret-456", "analytics-secret-789", "your-webhook-secret")


@pytest.fixture
def existing(api):
    """Order Processing unchanged (same secret), Email Service with other events and secret, an extra one."""
    api.on(
        "GET",
        "/endpoints",
        page(
            endpoint(
                EP1,
                "Order Processing",
                "https://api.order-processor.com/webhooks",
                ["order.updated", "product.purchased"],
            ),
            endpoint(EP2, "Email Service", "https://api.email-service.com/webhooks", ["user.registered"]),
            endpoint(EP3, "Old", "https://old.example/h", ["*"]),
        ),
    )
    api.on("GET", f"/endpoints/{EP1}/secret", {"secret": "order-secret-123", "previousSecrets": []})
    api.on("GET", f"/endpoints/{EP2}/secret", {"secret": "something-else-1", "previousSecrets": []})
    api.on(
        "POST",
        "/endpoints",
        {**endpoint("ep_new", "Analytics", "https://api.analytics.com/webhooks", ["*"])},
        status=201,
    )
    api.on("PATCH", f"/endpoints/{EP2}", endpoint(EP2, "Email Service", "https://api.email-service.com/webhooks", []))
    api.on("POST", f"/endpoints/{EP2}/secret/rotate", {"secret": "email-secret-456", "previousSecretExpiresAt": "x"})
    api.on("DELETE", f"/endpoints/{EP3}", (204, None))


def write(tmp_path, text: str) -> str:
    path = tmp_path / "webhooks.js"
    path.write_text(text)
    return str(path)


def test_apply_plans_then_applies_the_documents_webhooks(api, run, existing, tmp_path):
    code, out, err = run("endpoints", "apply", write(tmp_path, DOC_WEBHOOKS), "--yes")
    assert code == 0
    plan = {line.split()[0]: line for line in out.splitlines()[1:4]}
    assert "Order Processing" in plan["unchanged"] and "Analytics" in plan["create"]
    assert plan["update"].split()[-2:] == ["events,", "secret"]
    assert "plan: 1 to create, 1 to update, 0 to delete, 1 unchanged" in out and "applied 2 change(s)" in out
    assert "1 endpoint(s) not in" in err and "--prune" in err
    writes = [(s.method, s.path, s.body) for s in api.seen if s.method != "GET"]
    assert writes == [
        ("PATCH", f"/endpoints/{EP2}", {"events": ["user.registered", "review.created"]}),
        ("POST", f"/endpoints/{EP2}/secret/rotate", {"secret": "email-secret-456"}),
        (
            "POST",
            "/endpoints",
            {
                "name": "Analytics",
                "url": "https://api.analytics.com/webhooks",
                "events": ["*"],
                "secret": "analytics-secret-789",
            },
        ),
    ]
    assert not any(secret in out + err for secret in FILE_SECRETS)


def test_apply_prune_deletes_unlisted_endpoints(api, run, existing, tmp_path):
    code, out, _ = run("--json", "endpoints", "apply", write(tmp_path, DOC_WEBHOOKS), "--prune", "--yes")
    assert code == 0
    result = json.loads(out)
    assert result["applied"] is True
    assert {"action": "delete", "name": "Old", "id": EP3, "changes": ["removed"]} in result["plan"]
    assert ("DELETE", f"/endpoints/{EP3}") in api.calls()
    assert not any(secret in out for secret in FILE_SECRETS)


def test_apply_without_a_terminal_needs_yes(api, run, existing, tmp_path):
    code, out, err = run("endpoints", "apply", write(tmp_path, DOC_WEBHOOKS), "--prune")
    assert code == 2 and "plan:" in out and err.endswith("error: stdin is not a terminal; pass --yes to confirm\n")
    assert api.calls("PATCH") == api.calls("DELETE") == api.calls("POST") == []


def test_apply_single_webhook_config_matches_by_url(api, run, tmp_path):
    current = endpoint(
        EP1,
        "your-app.com",
        "https://your-app.com/webhooks/litestore",
        ["content.submitted", "content.approved", "review.created", "product.purchased", "commission.earned"],
        active=False,
        pausedReason="manual",
    )
    api.on("GET", "/endpoints", page({**current, "name": "renamed"}))
    api.on("GET", f"/endpoints/{EP1}/secret", {"secret": "your-webhook-secret", "previousSecrets": []})
    api.on("PATCH", f"/endpoints/{EP1}", current)
    code, out, _ = run("endpoints", "apply", write(tmp_path, DOC_CONFIG), "--yes")
    assert code == 0 and "name, active" in out
    assert api.seen[-1].body == {"name": "your-app.com", "active": True}


def test_apply_nothing_to_do_does_not_ask(api, run, tmp_path):
    api.on("GET", "/endpoints", page(endpoint(EP1, "A", "https://a.example/h", ["*"])))
    code, out, _ = run(
        "endpoints",
        "apply",
        write(tmp_path, '{"webhooks": [{"name": "A", "url": "https://a.example/h", "events": ["*"]}]}'),
    )
    assert code == 0 and out.endswith("nothing to do\n")


def test_apply_reports_an_invalid_file_in_one_line(api, run, tmp_path):
    code, _, err = run(
        "endpoints",
        "apply",
        write(tmp_path, '[{"url": "https://a.example/h", "events": ["nope"], "retry_policy": {}}]'),
    )
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "webhooks[0]" in err
    assert api.seen == []


def test_js_literal_to_json_handles_the_documents_snippets():
    assert len(json.loads(apply.js_literal_to_json(DOC_WEBHOOKS))) == 3
    config = json.loads(apply.js_literal_to_json(DOC_CONFIG))
    assert config["retryPolicy"] == {"maxAttempts": 5, "backoffMultiplier": 2, "initialDelay": 1000}
    assert json.loads(apply.js_literal_to_json("{a: 'it\\'s \"x\" // not a comment', b: [1, 2,],};")) == {
        "a": 'it\'s "x" // not a comment',
        "b": [1, 2],
    }


# -- targets ---------------------------------------------------------------------------------------


def test_stack_signs_admin_calls_with_sigv4_and_publishes_with_the_stacks_key(api, run, monkeypatch):
    monkeypatch.setattr(
        client, "stack_outputs", lambda name, region: {"ApiUrl": api.url, "ApiKeyId": "k123"} if name == "Prod" else {}
    )
    monkeypatch.setattr(client, "api_key_value", lambda key_id, region: f"value-of-{key_id}")
    api.on("GET", "/endpoints", page())
    api.on("POST", "/events", {"id": "evt_1", "event": "review.created", "duplicate": True}, status=200)
    assert run("--stack", "Prod", "endpoints", "list", target=False)[0] == 0
    headers = api.seen[0].headers
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/execute-api/aws4_request" in headers["authorization"]
    assert "x-amz-date" in headers and headers["x-amz-security-token"] == "testing"
    code, out, _ = run("--stack", "Prod", "events", "publish", "--type", "review.created", "--data", "{}", target=False)
    assert code == 0 and "duplicate" in out
    assert api.seen[1].headers["x-api-key"] == "value-of-k123" and "authorization" not in api.seen[1].headers


def _port(url: str) -> int:
    return int(urlsplit(url).port)


def test_local_uses_the_profile_the_runtime_writes(api, run):
    path = profile.write_local_profile(api.url, API_KEY, "local-admin")
    assert path == profile.profile_dir() / f"{_port(api.url)}.json" and path.is_relative_to(
        os.environ["XDG_CACHE_HOME"]
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "url": api.url,
        "apiKey": API_KEY,
        "adminToken": "local-admin",
        "port": _port(api.url),
        "pid": os.getpid(),
    }
    api.on("GET", "/event-types", {"data": []})
    assert run("--local", "event-types", "list", target=False)[0] == 0
    assert run("--local", str(_port(api.url)), "event-types", "list", target=False)[0] == 0
    assert run(f"--local={_port(api.url)}", "event-types", "list", target=False)[0] == 0
    assert all(seen.headers["authorization"] == "Bearer local-admin" for seen in api.seen) and len(api.seen) == 3
    assert profile.remove_local_profile(path) and not path.exists()


def test_local_not_running_says_so(api, run):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run("--local", "endpoints", "list", target=False)
    assert code == 1 and "no local runtime is running" in err and "litestore-webhooks local" in err  # no profile yet
    profile.write_local_profile(f"http://127.0.0.1:{port}/v1", API_KEY, "t")
    code, _, err = run("--local", "endpoints", "list", target=False)
    assert (code, err) == (
        1,
        f"error: cannot connect to http://127.0.0.1:{port}/v1 (connection refused); "
        "is `litestore-webhooks local` running?\n",
    )


def test_a_profile_whose_process_is_gone_is_skipped_and_removed(api, run):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = profile.write_local_profile("http://127.0.0.1:1/v1", API_KEY, "t", pid=int(done.stdout))
    live = profile.write_local_profile(api.url, API_KEY, "local-admin")
    assert [p.port for p in profile.running_local_profiles()] == [_port(api.url)]
    assert not dead.exists() and live.exists()


def test_rotate_secret_hint_keeps_the_local_port(api, run):
    profile.write_local_profile(api.url, API_KEY, "local-admin")
    api.on(
        "POST", f"/endpoints/{EP1}/secret/rotate", {"secret": SECRET, "previousSecretExpiresAt": "2024-01-16T00:00:00Z"}
    )
    code, out, err = run("--local", str(_port(api.url)), "endpoints", "rotate-secret", EP1, target=False)
    assert code == 0 and f"litestore-webhooks --local {_port(api.url)} endpoints secret {EP1}" in err
    assert SECRET not in out + err and "local-admin" not in out + err


def test_delete_asks_on_a_terminal(api, run, monkeypatch):
    api.on("DELETE", f"/endpoints/{EP1}", (204, None))
    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    code, _, err = run("endpoints", "delete", EP1)
    assert code == 1 and f"delete endpoint {EP1}, its queues and its dead letters? [y/N]" in err and "aborted" in err
    assert api.calls("DELETE") == []
    monkeypatch.setattr("sys.stdin", Tty("y\n"))
    assert run("endpoints", "delete", EP1)[:2] == (0, f"deleted {EP1}\n") and len(api.calls("DELETE")) == 1


def test_paused_reasons_read_as_words(api, run):
    api.on(
        "GET",
        "/endpoints",
        page(
            *(
                endpoint(
                    f"ep_{reason:a<22}"[:25], reason, "https://a.example/h", ["*"], active=False, pausedReason=reason
                )
                for reason in ("manual", "gone", "auto_disabled")
            )
        ),
    )
    statuses = [line.split("  ")[-1].strip() for line in run("endpoints", "list")[1].splitlines()[1:]]
    assert statuses == ["paused (manual)", "paused (gone)", "paused (auto-disabled)"]


def test_dlq_list_asks_for_more_than_a_page_at_once(api, run):
    letters = [{"id": f"evt_{i}", "event": "review.created", "reason": "rejected"} for i in range(3)]
    api.on("GET", f"/endpoints/{EP1}/dead-letters", {"data": letters, "approximateCount": 3})
    assert run("dlq", "list", EP1, "--limit", "250")[0] == 0 and api.seen[-1].query == {"limit": "250"}
    assert run("dlq", "list", EP1, "--all")[0] == 0 and api.seen[-1].query == {"limit": "1000"}
    code, _, err = run("dlq", "list", EP1, "--limit", "0")
    assert code == 2 and "must be a positive number" in err


def test_attempts_limit_above_a_page_follows_cursors_and_stops_at_the_limit(api, run):
    rows = [{"at": "2024-01-15T10:00:00Z", "eventId": f"evt_{i}", "status": "delivered"} for i in range(250)]
    api.on(
        "GET",
        f"/endpoints/{EP1}/attempts",
        page(*rows[:100], cursor="c1"),
        page(*rows[100:150], cursor="c2"),
        page(*rows[150:]),
    )  # as the API answers limit=100, then limit=50
    code, out, _ = run("--json", "attempts", EP1, "--limit", "150")
    assert code == 0 and [a["eventId"] for a in json.loads(out)["data"]] == [f"evt_{i}" for i in range(150)]
    assert [s.query for s in api.seen] == [{"limit": "100"}, {"limit": "50", "cursor": "c1"}]
    assert json.loads(out)["nextCursor"] == "c2"


def test_usage_errors_exit_2_with_one_line(api, run, monkeypatch):
    assert run(target=False)[0] == 2
    code, _, err = run("--local", "--url", api.url, "endpoints", "list", target=False)
    assert code == 2 and err == "error: --local and --url cannot be combined; pick one target\n"
    code, _, err = run("endpoints", "list", target=False)
    assert code == 2 and err.startswith("error: no API to talk to")
    code, _, err = run("endpoints", "list", "--limit", "x")
    assert code == 2 and err.count("\n") == 1 and "'x' must be a positive number" in err
    monkeypatch.setenv("LITESTORE_WEBHOOKS_URL", api.url)
    monkeypatch.setenv("LITESTORE_WEBHOOKS_ADMIN_TOKEN", "from-env")
    api.on("GET", "/endpoints", page())
    assert run("endpoints", "list", target=False)[:2] == (0, "no endpoints\n")
    assert api.seen[0].headers["authorization"] == "Bearer from-env"


def test_local_command_mounts_the_runtimes_parser_lazily(run, monkeypatch):
    class FakeLocal:
        @staticmethod
        def add_parser(subparsers):
            parser = subparsers.add_parser("local")
            parser.add_argument("--port", type=int)
            return parser

        @staticmethod
        def run(args):
            return 0 if args.port == 9000 else 3

    monkeypatch.setitem(__import__("sys").modules, "litestore_webhooks.local.cli", FakeLocal)
    monkeypatch.setattr("litestore_webhooks.local.cli", FakeLocal, raising=False)
    assert run("local", "--port", "9000", target=False)[0] == 0
    monkeypatch.setitem(__import__("sys").modules, "litestore_webhooks.local.cli", None)
    monkeypatch.delattr("litestore_webhooks.local.cli", raising=False)
    code, _, err = run("local", target=False)
    assert code == 1 and err == "error: the local runtime is not part of this installation\n"


# -- output ------------------------------------------------------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    rows = [{"s": "failed"}, {"s": "delivered"}]
    for stream, no_color, coloured in ((Tty(), False, True), (io.StringIO(), False, False), (Tty(), True, False)):
        output.Output(as_json=False, verbose=False, no_color=no_color, stdout=stream).table(
            rows, [("s", "S")], status_column="s"
        )
        assert ("\x1b[31mfailed" in stream.getvalue()) is coloured
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Tty()
    output.Output(as_json=False, verbose=False, no_color=False, stdout=stream).table(
        rows, [("s", "S")], status_column="s"
    )
    assert "\x1b[" not in stream.getvalue()


def test_progress_bar_draws_only_on_a_terminal():
    tty, pipe = Tty(), io.StringIO()
    for stream, enabled in ((tty, True), (pipe, False)):
        with output.Progress(stream, 4, "replaying", enabled=enabled) as bar:
            bar.advance(2)
    assert "replaying [" in tty.getvalue() and "2/4" in tty.getvalue() and pipe.getvalue() == ""


def test_times():
    from datetime import datetime

    now = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert parse_when("24h", now=now) == datetime(2024, 1, 14, 10, 30, tzinfo=UTC)
    assert parse_when("yesterday", now=now) == datetime(2024, 1, 14, tzinfo=UTC)
    assert parse_when("2024-01-15T10:00:00", now=now) == datetime(2024, 1, 15, 10, tzinfo=UTC)


def test_control_characters_in_api_text_are_escaped_for_people_and_json_stays_exact():
    hostile = "ok\x1b]0;pwned\x07\x1b[2J\r\u202e\x9b31m\x7f\u2066x\u200f\tend\nnext"
    out, err = io.StringIO(), io.StringIO()
    o = output.Output(as_json=False, verbose=True, no_color=True, stdout=out, stderr=err)
    o.table([{"a": hostile}], [("a", "A")])
    o.fields([("excerpt", hostile)])
    o.line(f"deleted {hostile}")
    o.note(hostile)
    o.error(output.CliError(hostile, details={"x": hostile}))
    printed = out.getvalue() + err.getvalue()
    for raw in ("\x1b", "\x07", "\r", "\u202e", "\x9b", "\x7f", "\u2066", "\u200f", "\t"):
        assert raw not in printed, repr(raw)
    escaped = "ok\\x1b]0;pwned\\x07\\x1b[2J\\r\\u202e\\x9b31m\\x7f\\u2066x\\u200f\\tend"
    assert out.getvalue().count(escaped + "\\nnext") == 2  # table cell and field: one line each
    assert f"deleted {escaped}\nnext\n" in out.getvalue()  # a line may span lines, but never rewrite them
    js = io.StringIO()
    output.Output(as_json=True, verbose=False, no_color=True, stdout=js).json({"excerpt": hostile, "name": "Zoë"})
    assert json.loads(js.getvalue()) == {"excerpt": hostile, "name": "Zoë"}
    assert not [c for c in ("\x1b", "\x07", "\u202e", "\x9b", "\x7f", "\u2066", "\u200f") if c in js.getvalue()]
    assert "Zoë" in js.getvalue()  # printable text stays as it is


def test_colour_survives_escaping():
    stream = Tty()
    o = output.Output(as_json=False, verbose=False, no_color=False, stdout=stream)
    o.line(o.status("delivered"), " evt_\x1b[2J")
    assert stream.getvalue() == "\x1b[32mdelivered\x1b[0m evt_\\x1b[2J\n"
