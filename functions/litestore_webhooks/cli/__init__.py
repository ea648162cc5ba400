"""`litestore-webhooks`: the operator CLI for the admin and ingest APIs.

Built on argparse, not Click/Typer: the distribution's dependencies are installed into every
Lambda bundle (infra/bundling.py drops only the cli/ folder), where each extra package adds
size and cold-start time; argparse gives subcommands, usage errors (exit 2) and help with
nothing to install. Heavy imports (boto3 for --stack,
pydantic for `endpoints apply`, the local runtime) happen only in the commands that need them.

Global options work before or after the command. Exit codes: 0 ok, 1 the operation failed
(API error, network), 2 usage error. Every error is one line on stderr; -v adds the API's details.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from litestore_webhooks.cli import console, dlq, endpoints, events
from litestore_webhooks.cli.context import Context
from litestore_webhooks.cli.output import CliError, Output

PROG = "litestore-webhooks"
_GLOBAL_DEFAULTS = {"local": False, "url": None, "stack": None, "admin_token": None, "api_key": None,
                    "json": False, "verbose": False, "no_color": False}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, like every other error, pointing at the help of the command that was typed."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _common() -> argparse.ArgumentParser:
    """Global options; SUPPRESS defaults so a value given before the command survives the subparser."""
    common = Parser(add_help=False)
    g = common.add_argument_group("target (pick one)")
    g.add_argument("--local", action="store_true", default=argparse.SUPPRESS,
                   help="the local runtime, via the profile `litestore-webhooks local` writes")
    g.add_argument("--url", default=argparse.SUPPRESS, help="API base URL (env LITESTORE_WEBHOOKS_URL)")
    g.add_argument("--stack", default=argparse.SUPPRESS, metavar="NAME",
                   help="deployed CloudFormation stack; admin calls signed with SigV4 from your AWS credentials")
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

    parser = Parser(prog=PROG, parents=[common],
                    description="Operate Litestore webhooks: endpoints, events, attempts, dead letters, replays.",
                    epilog="examples:\n  litestore-webhooks --local endpoints list\n"
                           "  litestore-webhooks --stack LitestoreWebhooks dlq redrive ep_...\n"
                           "  litestore-webhooks replay 'Order Processing' --since yesterday --until today",
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    endpoints.register(sub, add)
    events.register(sub, add)
    dlq.register(sub, add)
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
        raise CliError(f"the local runtime needs the {exc.name} package: pip install 'litestore-webhooks[dev]'") from None
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
        return args.func(Context(args, out)) or 0
    except CliError as exc:
        out.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
