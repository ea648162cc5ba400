"""`litestore-webhooks`: the operator CLI for the admin and ingest APIs.

Built on argparse, not Click/Typer: the distribution's dependencies are installed into every
Lambda bundle (infra/bundling.py drops only the cli/ folder), where each extra package adds
size and cold-start time; argparse gives subcommands, usage errors (exit 2) and help with
nothing to install. Heavy imports (boto3 for --stack,
pydantic for `endpoints apply`, the local runtime) happen only in the commands that need them.

Global options work before or after the command. Exit codes: 0 ok, 1 the operation failed
(API error, network), 2 usage error, 141 the reader of stdout went away (`... | head`, as git and
ls report it). Every error is one line on stderr; -v adds the API's details.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from litestore_webhooks.cli import console, dlq, doctor, endpoints, event_types, events
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError, Output

PROG = "litestore-webhooks"
_GLOBAL_DEFAULTS = {
    "local": False,
    "local_port": None,
    "url": None,
    "stack": None,
    "region": None,
    "admin_token": None,
    "api_key": None,
    "json": False,
    "verbose": False,
    "no_color": False,
}
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE, as a shell reports `git log | head` or `ls | head`


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, like every other error, pointing at the help of the command that was typed."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        return super().parse_known_args(_local_port_form(sys.argv[1:] if args is None else args), namespace)


def _local_port_form(argv: Sequence[str]) -> list[str]:
    """``--local PORT`` and ``--local=PORT`` as ``--local --local-port PORT``: argparse cannot give one
    flag an optional value without taking the command that follows a bare ``--local`` for it."""
    out: list[str] = []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return out + words[i:]
        if word.startswith("--local="):
            out += ["--local", "--local-port", word.removeprefix("--local=")]
        elif word == "--local" and i + 1 < len(words) and words[i + 1].isdigit():
            out += ["--local", "--local-port", words[i + 1]]
            i += 1
        else:
            out.append(word)
        i += 1
    return out


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}")
    return int(text)


def package_version() -> str:
    try:
        return version("litestore-webhooks")
    except PackageNotFoundError:  # run from a source tree without an install
        return "unknown"


def _common() -> argparse.ArgumentParser:
    """Global options; SUPPRESS defaults so a value given before the command survives the subparser."""
    common = Parser(add_help=False)
    g = common.add_argument_group("target (pick one)")
    g.add_argument(
        "--local",
        action="store_true",
        default=argparse.SUPPRESS,
        help="the local runtime that is up (`--local PORT`: the one on that port), via the profile "
        "`litestore-webhooks local` writes",
    )
    g.add_argument("--local-port", type=_port, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    g.add_argument("--url", default=argparse.SUPPRESS, help="API base URL (env LITESTORE_WEBHOOKS_URL)")
    g.add_argument(
        "--stack",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="deployed CloudFormation stack; admin calls signed with SigV4 from your AWS credentials",
    )
    g.add_argument(
        "--region", default=argparse.SUPPRESS, help="the stack's AWS region (default: AWS_REGION, the profile's)"
    )
    g.add_argument("--admin-token", default=argparse.SUPPRESS, help="env LITESTORE_WEBHOOKS_ADMIN_TOKEN")
    g.add_argument("--api-key", default=argparse.SUPPRESS, help="ingest key (env LITESTORE_WEBHOOKS_API_KEY)")
    o = common.add_argument_group("output")
    o.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the API's JSON")
    o.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="more detail")
    o.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS, help="no ANSI colours")
    return common


def build_parser() -> Parser:
    common = _common()

    def add(sub: argparse._SubParsersAction, name: str, helptext: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=helptext, description=helptext, parents=[common])

    parser = Parser(
        prog=PROG,
        parents=[common],
        description="Operate Litestore webhooks: endpoints, events, attempts, dead letters, replays.",
        epilog="examples:\n  litestore-webhooks --local endpoints list\n"
        "  litestore-webhooks --stack LitestoreWebhooks dlq redrive ep_...\n"
        "  litestore-webhooks replay 'Order Processing' --since yesterday --until today",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    endpoints.register(sub, add)
    events.register(sub, add)
    event_types.register(sub, add)
    dlq.register(sub, add)
    doctor.register(sub, add)
    console.register(sub, add)
    local = sub.add_parser("local", add_help=False, help="run the local runtime (see `local --help`)")
    local.set_defaults(func=run_local)
    return parser


def run_local(ctx: Context) -> int:
    """Mount the local runtime's own parser, imported only now: it pulls in moto and friends."""
    try:
        from litestore_webhooks.local import cli as local_cli
    except ModuleNotFoundError as exc:
        if exc.name == "litestore_webhooks.local.cli":
            raise CliError("the local runtime is not part of this installation") from None
        raise CliError(
            f"the local runtime needs the {exc.name} package: pip install 'litestore-webhooks[dev]'"
        ) from None
    parser = Parser(prog=PROG)
    local_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return local_cli.run(parser.parse_args(["local", *ctx.args.passthrough])) or 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
        if extra and args.command != "local":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    for key, value in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    args.passthrough = extra
    out = Output(as_json=args.json, verbose=args.verbose, no_color=args.no_color)
    try:
        code = args.func(Context(args, out)) or 0
        sys.stdout.flush()  # here, not at exit: a reader that went away is answered below, not by a traceback
        return code
    except CliError as exc:
        out.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        # The Python documentation's recipe: point stdout at /dev/null so the flush at exit cannot fail
        # again, and exit as a process ended by SIGPIPE would be reported.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
