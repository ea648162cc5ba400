"""HTTP access to the admin and ingest APIs, wherever they run.

Three targets: the local runtime (``--local [PORT]``: URL and tokens from the profile it writes),
any URL with bearer token / API key (``--url``), or a deployed stack (``--stack``: URL from
its CloudFormation outputs, admin calls signed with SigV4 from the standard AWS credential
chain, the ingest API key fetched from API Gateway only when publishing). boto3 is imported
only for ``--stack`` so the other targets start fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from litestore_webhooks.cli.output import CliError
from litestore_webhooks.cli.profile import LocalProfile, profile_dir, running_local_profiles

TIMEOUT = (5.0, 35.0)  # connect, read: API Gateway itself gives up after 29 s
PAGE_MAX = 100  # the admin API's largest page (admin/common.Limit)
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


@dataclass
class Target:
    """Where requests go and how they authenticate."""

    url: str
    admin_token: str | None = None
    api_key: str | None = None
    api_key_lookup: Callable[[], str] | None = None  # --stack: fetched on first publish
    sigv4_region: str | None = None  # set: sign admin requests (deployed stack)
    local: bool = False


REGION_HINT = "set AWS_REGION or pass --region"


def aws_region(explicit: str | None = None) -> str | None:
    """--region, else AWS_REGION (which the CDK CLI reads but boto3 does not), else boto3's own
    chain (AWS_DEFAULT_REGION, the profile's region)."""
    if explicit or os.environ.get("AWS_REGION"):
        return explicit or os.environ["AWS_REGION"]
    import boto3

    return boto3.session.Session().region_name


def stack_outputs(stack_name: str, region: str | None) -> dict[str, str]:
    """A CloudFormation stack's outputs by key (tests replace this function)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    try:
        stacks = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)["Stacks"]
    except NoRegionError:
        raise CliError(f"cannot read stack {stack_name}: no AWS region is set; {REGION_HINT}", exit_code=2) from None
    except (BotoCoreError, ClientError) as exc:
        where = f" in {region}" if region else ""
        raise CliError(f"cannot read stack {stack_name}{where}: {exc}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def api_key_value(key_id: str, region: str | None) -> str:
    """The ingest API key's value from API Gateway (tests replace this function)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("apigateway", region_name=region).get_api_key(apiKey=key_id, includeValue=True)["value"]
    except (BotoCoreError, ClientError) as exc:
        raise CliError(f"cannot read API key {key_id}: {exc}") from None


def local_profile(port: int | None) -> LocalProfile:
    """The running local runtime: the only one up, or the one on ``port``."""
    running = running_local_profiles()
    listed = ", ".join(f"{p.port} (pid {p.pid})" for p in running)
    if port is not None:
        for profile in running:
            if profile.port == port:
                return profile
        raise CliError(
            f"no local runtime on port {port}" + (f"; running: {listed}" if running else "; none is running")
        )
    if not running:
        raise CliError(
            f"no local runtime is running (no profile in {profile_dir()}); start one with `litestore-webhooks local`"
        )
    if len(running) > 1:
        raise CliError(
            f"{len(running)} local runtimes are running, on ports {listed}; pick one with --local PORT", exit_code=2
        )
    return running[0]


def resolve_target(
    *,
    local: bool,
    url: str | None,
    stack: str | None,
    admin_token: str | None,
    api_key: str | None,
    local_port: int | None = None,
    region: str | None = None,
) -> Target:
    """Pick the target from flags, then environment; explicit tokens beat the local profile."""
    env = os.environ
    chosen = [name for name, on in (("--local", local), ("--url", url), ("--stack", stack)) if on]
    if len(chosen) > 1:
        raise CliError(f"{' and '.join(chosen)} cannot be combined; pick one target", exit_code=2)
    admin_token = admin_token or env.get("LITESTORE_WEBHOOKS_ADMIN_TOKEN")
    api_key = api_key or env.get("LITESTORE_WEBHOOKS_API_KEY")
    if local:
        profile = local_profile(local_port)
        return Target(profile.url, admin_token or profile.admin_token, api_key or profile.api_key, local=True)
    if stack:
        region = aws_region(region)
        outputs = stack_outputs(stack, region)
        if "ApiUrl" not in outputs:
            raise CliError(f"stack {stack} has no ApiUrl output (outputs: {', '.join(outputs) or 'none'})")
        key_id = outputs.get("ApiKeyId")
        lookup = (lambda: api_key_value(key_id, region)) if key_id else None
        return Target(
            outputs["ApiUrl"],
            api_key=api_key,
            api_key_lookup=lookup,
            sigv4_region=_region_for(outputs["ApiUrl"], region),
        )
    url = url or env.get("LITESTORE_WEBHOOKS_URL")
    if not url:
        raise CliError(
            "no API to talk to: pass --local, --url URL or --stack NAME (or set LITESTORE_WEBHOOKS_URL)", exit_code=2
        )
    return Target(url, admin_token, api_key)


def _region_for(api_url: str, region: str | None) -> str:
    """The region to sign for: from an execute-api host name, else the region in use."""
    match = _REGION_IN_HOST.search(urlsplit(api_url).hostname or "")
    if match:
        return match.group(1)
    if not region:
        raise CliError(f"cannot tell which AWS region to sign for; {REGION_HINT}", exit_code=2)
    return region


class SigV4(requests.auth.AuthBase):
    """Sign with SigV4 for execute-api (IAM-authorized admin routes); keys come from the
    standard chain (env, ~/.aws, SSO, instance role) and are never stored by the CLI."""

    def __init__(self, region: str) -> None:
        import boto3

        credentials = boto3.session.Session().get_credentials()
        if credentials is None:
            raise CliError("no AWS credentials found for --stack (standard chain: env, ~/.aws, SSO, role)")
        self.credentials, self.region = credentials, region

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        # Sign only what requests will send unchanged: host (implicit), content type and body.
        headers = {k: v for k, v in request.headers.items() if k.lower() == "content-type"}
        aws = AWSRequest(method=request.method, url=request.url, data=request.body or b"", headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"):
            if name in aws.headers:
                request.headers[name] = aws.headers[name]
        return request


@dataclass
class Client:
    """Thin JSON-over-HTTP client; every failure becomes a one-line CliError."""

    target: Target
    session: requests.Session = field(default_factory=requests.Session)
    _sigv4: SigV4 | None = None
    _secrets: set[str] = field(default_factory=set)  # redacted from any error text we print

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, params=params, body={} if body is None else body)

    def patch(self, path: str, body: Any, **params: Any) -> Any:
        return self.request("PATCH", path, params=params, body=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=params)

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None, ingest: bool = False
    ) -> Any:
        """Parsed JSON of a 2xx response (None for 204); CliError for anything else."""
        if isinstance(body, dict) and isinstance(body.get("secret"), str):
            self._secrets.add(body["secret"])
        response = self.send(method, path, params=params, body=body, ingest=ingest)
        if not response.ok:
            raise self.failure(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{method} {response.url}: HTTP {response.status_code} with a non-JSON body") from None

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ingest: bool = False,
        auth: bool = True,
    ) -> requests.Response:
        """The response, whatever its status (`auth=False`: with no credentials at all); CliError
        only when there is none (no connection, a timeout)."""
        url = self.target.url.rstrip("/") + path
        query = {k: ("true" if v is True else v) for k, v in (params or {}).items() if v is not None}
        headers, signer = self._auth(ingest) if auth else ({}, None)
        try:
            return self.session.request(
                method, url, params=query, json=body, headers=headers, auth=signer, timeout=TIMEOUT
            )
        except requests.ConnectionError as exc:
            hint = "; is `litestore-webhooks local` running?" if self.target.local else ""
            raise CliError(f"cannot connect to {self.target.url} ({_reason(exc)}){hint}") from None
        except requests.Timeout:
            raise CliError(f"{method} {url} timed out after {TIMEOUT[1]:.0f} s") from None

    def pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Each page of a list endpoint, following ``nextCursor`` until it is null."""
        while True:
            page = self.get(path, **params)
            yield page
            cursor = page.get("nextCursor")
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    def collect(self, path: str, *, all_pages: bool, limit: int | None = None, **params: Any) -> dict[str, Any]:
        """``limit`` items (any number: pages of at most PAGE_MAX are followed), or with ``all_pages``
        every item, as one page {"data": [...], "nextCursor": where the next item starts, or null}."""
        if not all_pages and limit is None:
            return self.get(path, **params)
        data: list[Any] = []
        limit = None if all_pages else limit
        while True:
            want = PAGE_MAX if limit is None else min(PAGE_MAX, limit - len(data))
            page = self.get(path, limit=want, **params)
            data += page.get("data", [])
            cursor = page.get("nextCursor")
            if not cursor or (limit is not None and len(data) >= limit):
                return {"data": data, "nextCursor": cursor}
            params = {**params, "cursor": cursor}

    def _auth(self, ingest: bool) -> tuple[dict[str, str], requests.auth.AuthBase | None]:
        target = self.target
        if ingest:
            if not target.api_key and target.api_key_lookup:
                target.api_key = target.api_key_lookup()
            if not target.api_key:
                raise CliError(
                    "publishing needs an API key: pass --api-key or set LITESTORE_WEBHOOKS_API_KEY", exit_code=2
                )
            return {"x-api-key": target.api_key}, None
        if target.sigv4_region:
            self._sigv4 = self._sigv4 or SigV4(target.sigv4_region)
            return {}, self._sigv4
        return ({"Authorization": f"Bearer {target.admin_token}"} if target.admin_token else {}), None

    def failure(self, response: requests.Response) -> CliError:
        """The API's {"error": {...}} as "message (code)"; API Gateway's {"message"} as "HTTP n: message"."""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            text = f"{error.get('message') or 'request failed'} ({error.get('code') or response.status_code})"
            details = error.get("details")
        elif isinstance(payload, dict) and payload.get("message"):
            text, details = f"HTTP {response.status_code}: {payload['message']}", None
        else:
            text, details = f"HTTP {response.status_code} {response.reason or ''}".rstrip(), None
        return CliError(self._redact(text), details=self._redact(details))

    def _redact(self, value: Any) -> Any:
        """Error text may echo the request (validation errors); never let a secret through."""
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, list):
            return [self._redact(item) for item in value]
        if isinstance(value, dict):
            return {key: self._redact(item) for key, item in value.items()}
        return value


def seg(value: str) -> str:
    """A path segment, escaped (ids are user input)."""
    return quote(value, safe="")


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host not found"
    return "connection failed"
