"""The local runtime: moto, the stack-level resources, the API and the event-source poller,
configured exactly as the deployed functions are (through environment). moto serves from a
child process by default (`moto_server.MotoProcess`: both cores), or in this one
(`moto="thread"` / LSW_LOCAL_MOTO=thread)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from litestore_webhooks import config
from litestore_webhooks import resources as r
from litestore_webhooks.aws import bootstrap, clients, event_sources
from litestore_webhooks.cli import profile
from litestore_webhooks.console.links import operator_link
from litestore_webhooks.local import logs, state
from litestore_webhooks.local.apigw import STAGE, ApiServer
from litestore_webhooks.local.invoke import load_handler
from litestore_webhooks.local.moto_server import MotoMode, MotoProcess, MotoServer, mode_from_env, moto_server
from litestore_webhooks.local.poller import Poller

log = logging.getLogger(__name__)


def example_event() -> dict[str, object]:
    """The document's own test event ("Webhook Testing Tools"), stamped now: ingest refuses
    timestamps older than the 30-day retention, and the document's is from 2024."""
    return {
        "event": "content.submitted",
        "id": "test-event-123",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {"contentId": "content-123", "creatorId": "creator-456"},
    }


class LocalRuntime:
    """Start with `start()` (or `with LocalRuntime(...) as rt:`); `stop()` restores the
    process environment, so tests can run several runtimes one after another."""

    def __init__(
        self,
        port: int = 8080,
        api_key: str | None = None,
        admin_token: str | None = None,
        allow_insecure: bool = False,
        ca_bundle: str | None = None,
        state_file: str | os.PathLike[str] | None = None,
        pretty: bool = False,
        prefix: str = r.DEFAULT_PREFIX,
        write_profile: bool = True,
        log_level: str | None = None,
        accept_unknown_event_types: bool = False,
        moto: MotoMode | None = None,
    ) -> None:
        self.port = port
        self.api_key = api_key or "lsw_" + secrets.token_urlsafe(24)
        self.admin_token = admin_token or "lsw_admin_" + secrets.token_urlsafe(24)
        self.allow_insecure = allow_insecure
        self.accept_unknown_event_types = accept_unknown_event_types  # the stack's acceptUnknownEventTypes
        self.ca_bundle = ca_bundle
        self.state_file = Path(state_file) if state_file else None
        self.pretty = pretty
        self.prefix = prefix
        self.write_profile = write_profile
        self.log_level = log_level  # the functions' POWERTOOLS_LOG_LEVEL (default: as the environment says)
        self._profile: Path | None = None  # the CLI profile we wrote, to remove on stop
        self._undo_logs: Callable[[], None] | None = None
        self.registry = event_sources.LocalEventSources()
        self.moto_mode: MotoMode = moto or mode_from_env()
        self._moto: MotoServer | MotoProcess | None = None
        self._api: ApiServer | None = None
        self._poller: Poller | None = None
        self._saved_env: dict[str, str | None] = {}
        self._state_loaded = False  # a start that failed before restoring must not overwrite the file
        self._previous_event_sources: event_sources.EventSources | None = None

    @property
    def base_url(self) -> str:
        """The API as a client sees it, stage prefix included (like the deployed invoke URL)."""
        assert self._api, "start() first"
        return f"{self._api.url}/{STAGE}"

    @property
    def moto_pid(self) -> int | None:
        """The moto server's process id when it runs apart (None in thread mode)."""
        return self._moto.pid if isinstance(self._moto, MotoProcess) else None

    @property
    def aws_endpoint_url(self) -> str:
        assert self._moto, "start() first"
        return self._moto.url

    def start(self) -> LocalRuntime:
        """Start everything; on failure, stop what had started (moto's process included) and raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalRuntime:
        started = time.monotonic()
        self._moto = moto_server(self.moto_mode)
        self._moto.spawn()  # moto's process imports while this one loads the handlers
        delivery = load_handler(r.DELIVERY_FUNCTION)
        if delivery is None or load_handler(r.INGEST_FUNCTION) is None:
            raise RuntimeError("the ingest and delivery handlers are required")
        moto_url = self._moto.ready()
        urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=5).close()  # noqa: S310 - our own moto URL
        self._set_env(self._aws_env(moto_url))
        clients.reset()
        config.settings.cache_clear()
        self._set_env(bootstrap.create_stack_resources(self.prefix))
        config.settings.cache_clear()
        self._undo_logs = logs.use_for_functions(pretty=self.pretty, prefix=self.prefix)
        self._previous_event_sources = event_sources.current()
        event_sources.use(self.registry)  # before anything provisions: never real mappings in moto
        if self.state_file:
            restored = state.restore(self.state_file)
            log.info("restored state from %s: %s", self.state_file, restored)
        self._state_loaded = True  # from here on, stop() may write the state file
        self._poller = Poller(self.registry, delivery, self.prefix)
        self._poller.start()
        self._api = ApiServer(port=self.port, api_key=self.api_key, admin_token=self.admin_token, prefix=self.prefix)
        self._api.start()
        if self.write_profile:
            self._write_profile()
        log.info("local runtime up in %.2fs at %s", time.monotonic() - started, self.base_url)
        return self

    def stop(self) -> None:
        """API first (no new events), then the poller, then save state, then moto."""
        self._remove_profile()
        if self._api:
            self._api.stop()
        if self._poller:
            self._poller.stop()
        try:
            if self.state_file and self._moto and self._state_loaded:
                saved = state.save(self.state_file)
                log.info("saved state to %s: %s", self.state_file, saved)
        finally:
            if self._moto:
                self._moto.stop()
            event_sources.use(self._previous_event_sources)
            if self._undo_logs:
                self._undo_logs()
                self._undo_logs = None
            self._restore_env()
            clients.reset()
            config.settings.cache_clear()
            self._api = self._poller = self._moto = None
            self._state_loaded = False

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the CLI's local profile -------------------------------------------------------
    def _write_profile(self) -> None:
        """Tell `litestore-webhooks --local ...` where this runtime is: a profile of its own, by port."""
        self._profile = profile.write_local_profile(self.base_url, self.api_key, self.admin_token)
        log.info("CLI profile written to %s", self._profile)

    def _remove_profile(self) -> None:
        """Delete our profile only (another runtime may since have taken the port and written its own)."""
        if self._profile is not None:
            profile.remove_local_profile(self._profile)
            self._profile = None

    # -- environment -------------------------------------------------------------------
    def _aws_env(self, moto_url: str) -> dict[str, str | None]:
        """What the CDK stack sets on the functions, plus moto's endpoint and dummy credentials."""
        return {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            "LSW_LOCAL_RUNTIME": "1",
            "LSW_ALLOW_INSECURE": "1" if self.allow_insecure else None,
            r.ACCEPT_UNKNOWN_ENV: "1" if self.accept_unknown_event_types else None,
            "LSW_CA_BUNDLE": str(self.ca_bundle) if self.ca_bundle else None,
            "POWERTOOLS_SERVICE_NAME": "litestore-webhooks",
            "POWERTOOLS_METRICS_NAMESPACE": r.METRICS_NAMESPACE,
            "POWERTOOLS_TRACE_DISABLED": "1",
            # Never POWERTOOLS_DEV: it prints whole API events, credentials included (local/logs.py).
            "POWERTOOLS_DEV": None,
            "POWERTOOLS_METRICS_DISABLED": "true" if self.pretty else None,  # EMF blobs: not for reading
            "POWERTOOLS_LOG_LEVEL": self.log_level.upper()
            if self.log_level
            else os.environ.get("POWERTOOLS_LOG_LEVEL"),
        }

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    # -- banner ------------------------------------------------------------------------
    def banner(self) -> str:
        """The one startup message: where the API is, the credentials, what to try next."""
        url = self.base_url
        endpoint = {
            "name": "My receiver",
            "url": "https://your-app.example/webhooks/litestore",
            "events": ["*"],
            "secret": "your-webhook-secret",
        }
        if self.allow_insecure:
            endpoint["url"] = "http://127.0.0.1:3000/webhooks/litestore"
        lines = [
            "Litestore webhooks: local runtime (moto-backed AWS, no account needed)",
            f"  API          {url}",
            f"  Console      {operator_link(url)}  (opens once; another: litestore-webhooks --local console)",
            f"  API key      {self.api_key}",
            f"  Admin token  {self.admin_token}",
            f"  State        {'saved to ' + str(self.state_file) + ' on exit' if self.state_file else 'in memory'}",
            f"  Event types  the catalog starts with the document's types (event-types list); unknown ones are "
            f"{'accepted and recorded on first sight' if self.accept_unknown_event_types else 'refused (add --accept-unknown-event-types to accept them)'}",
            f"  Endpoint URLs {'may use http:// and loopback (--allow-insecure-endpoints)' if self.allow_insecure else 'must be public https:// (add --allow-insecure-endpoints for local receivers)'}",
            "",
            "Register an endpoint:",
            f"  curl -X POST {url}/endpoints -H {shlex.quote('Authorization: Bearer ' + self.admin_token)} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(endpoint))}",
            "Publish the document's example event:",
            f"  curl -X POST {url}/events -H {shlex.quote('x-api-key: ' + self.api_key)} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(example_event()))}",
            "Browse the API:",
            f"  curl {url}/event-types -H {shlex.quote('Authorization: Bearer ' + self.admin_token)}",
            "",
            "Ctrl-C stops (logs go to stderr).",
        ]
        return "\n".join(lines)
