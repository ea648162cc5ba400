"""What every command handler receives: parsed arguments, the output, and a client made on first use
(so commands that need no API, and usage errors, never touch the network or AWS)."""

from __future__ import annotations

import argparse
import shlex
from functools import cached_property
from typing import Any

from litestore_webhooks.cli.client import Client, resolve_target, seg
from litestore_webhooks.cli.output import CliError, Output


class Context:
    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.args = args
        self.out = out

    @cached_property
    def client(self) -> Client:
        a = self.args
        return Client(
            resolve_target(
                local=a.local,
                url=a.url,
                stack=a.stack,
                admin_token=a.admin_token,
                api_key=a.api_key,
                local_port=a.local_port,
                region=a.region,
            )
        )

    def command(self, *words: str) -> str:
        """An admin command line to run next, for people: with the target flags this one was given (what
        came from the environment still applies), never a credential; when the admin token was a flag,
        it says where the next command gets it."""
        a = self.args
        flags = ["--local", *([str(a.local_port)] if a.local_port else [])] if a.local else []
        flags += ["--url", a.url] if a.url else ["--stack", a.stack] if a.stack else []
        flags += ["--region", a.region] if a.stack and a.region else []
        line = shlex.join(["litestore-webhooks", *flags, *words])
        if a.admin_token:
            line += " (with your --admin-token, or LITESTORE_WEBHOOKS_ADMIN_TOKEN set)"
        return line

    @cached_property
    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, every page (asked once per command)."""
        return [e for page in self.client.pages("/endpoints") for e in page.get("data", [])]

    def endpoint_id(self, ref: str) -> str:
        """An endpoint id from an id (``ep_...``) or an exact endpoint name."""
        if ref.startswith("ep_"):
            return ref
        found = [e for e in self.endpoints if e.get("name") == ref]
        if not found:
            raise CliError(f"no endpoint named {ref!r} (give its id, ep_..., or its exact name)")
        if len(found) > 1:
            raise CliError(
                f"{len(found)} endpoints are named {ref!r}; give the id: " + ", ".join(e["id"] for e in found)
            )
        return found[0]["id"]

    def endpoint_names(self) -> dict[str, str]:
        """Every endpoint's name by id (the API's listings name endpoints by id only)."""
        return {e["id"]: e.get("name") or "" for e in self.endpoints}

    def endpoint_path(self, ref: str, suffix: str = "") -> str:
        return f"/endpoints/{seg(self.endpoint_id(ref))}{suffix}"

    def emit(self, payload: Any) -> bool:
        """Print the API's JSON when --json was given; True means the human view is not wanted."""
        if self.out.as_json:
            if payload is not None:
                self.out.json(payload)
            return True
        return False
