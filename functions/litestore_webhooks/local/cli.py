"""`litestore-webhooks local`: mount with `add_parser(subparsers)`; `python -m
litestore_webhooks.local` runs it standalone."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
import time
import warnings

from litestore_webhooks.local import logs
from litestore_webhooks.local.runtime import LocalRuntime

log = logging.getLogger("litestore_webhooks.local")
STOP_BUDGET_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="API port on 127.0.0.1 (default 8080)")
    parser.add_argument("--api-key", help="x-api-key for ingest routes (default: generated, printed)")
    parser.add_argument("--admin-token", help="Bearer token for admin routes (default: generated, printed)")
    parser.add_argument(
        "--allow-insecure-endpoints",
        action="store_true",
        help="let endpoints use http:// and loopback addresses (local only)",
    )
    parser.add_argument(
        "--accept-unknown-event-types",
        action="store_true",
        help="accept event types the catalog lacks, recorded as accept-mode types on first sight "
        "(the stack's acceptUnknownEventTypes)",
    )
    parser.add_argument("--ca-bundle", help="extra CA file the delivery client trusts (e.g. a test CA)")
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="save endpoints, the event-type catalog and undelivered messages here on exit; "
        "restore them on start (default: in memory only)",
    )
    parser.add_argument("--pretty", action="store_true", help="readable logs instead of Lambda's JSON lines")
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=("debug", "info", "warning", "error"),
        default=None,
        help="of the runtime and the functions (default: $POWERTOOLS_LOG_LEVEL, else info); no level logs a secret",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "local",
        help="run the whole system on this machine (moto-backed, no AWS account)",
        description="Serve the API on 127.0.0.1 and deliver webhooks, with moto standing in for AWS.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _configure_logging(pretty: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logs.runtime_formatter(pretty))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quietest in logs.QUIET.items():  # their DEBUG lines carry request bodies: secrets
        logging.getLogger(name).setLevel(max(quietest, root.level))
    # Powertools warns on every invocation that publishes no metric (most local deliveries): noise here.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def run(args: argparse.Namespace) -> int:
    """Start, print the banner, serve until SIGINT/SIGTERM, stop within STOP_BUDGET_S."""
    banner_out = sys.stdout
    # In Lambda, function output (Powertools logs, EMF metrics) goes to the log stream;
    # here it goes to stderr, keeping stdout for the banner.
    sys.stdout = sys.stderr
    level = args.log_level or os.environ.get("POWERTOOLS_LOG_LEVEL", "").lower()
    level = level if level in ("debug", "info", "warning", "error") else "info"
    _configure_logging(args.pretty, level)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime = LocalRuntime(
        port=args.port,
        api_key=args.api_key,
        admin_token=args.admin_token,
        allow_insecure=args.allow_insecure_endpoints,
        ca_bundle=args.ca_bundle,
        state_file=args.state,
        pretty=args.pretty,
        log_level=level,
        accept_unknown_event_types=args.accept_unknown_event_types,
    )
    try:
        runtime.start()
    except OSError as exc:
        runtime.stop()
        if exc.errno == errno.EADDRINUSE:
            reason = (
                f"port {args.port} on 127.0.0.1 is already in use (another `litestore-webhooks local`?); "
                "pick a free one with --port"
            )
        else:
            reason = exc.strerror or str(exc)
        print(f"error: cannot start: {reason}", file=sys.stderr, flush=True)  # for people, not a log line
        return 1
    print(runtime.banner(), file=banner_out, flush=True)
    stop.wait()
    started = time.monotonic()
    stopper = threading.Thread(target=runtime.stop, name="lsw-stop", daemon=True)
    stopper.start()
    stopper.join(STOP_BUDGET_S)
    if stopper.is_alive():
        log.error("shutdown exceeded %.0fs; exiting anyway", STOP_BUDGET_S)
        return 1
    log.info("stopped in %.2fs", time.monotonic() - started)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="litestore-webhooks local", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
