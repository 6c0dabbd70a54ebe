"""The `rekey` command: the same use cases and handlers as the Lambdas, configured by the
same environment variables."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points, version
from types import ModuleType
from typing import Any

from botocore import exceptions as aws

from rekey.adapters.errors import translate
from rekey.domain.errors import ConfigurationError, RekeyError, UsageError
from rekey.handlers import worker
from rekey.handlers.common import quiet_sdk_loggers
from rekey.messages import Notification
from rekey.metrics import Recorder
from rekey.runtime import Runtime
from rekey.settings import REQUIRED, Settings
from rekey.use_cases.announce import publish
from rekey.use_cases.digest import cli_digest
from rekey.use_cases.sweep import SweepResult, new_sweep_id, sweep
from rekey.use_cases.work import WorkOutcome

from . import consumer, operations_cli
from .arguments import add_command
from .progress import CLEAR_LINE, Progress
from .sqs_source import drain

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
# What botocore raises when it has no credentials to sign with, or cannot get them (a failing
# credential_process, an expired SSO token, a broken source_profile chain).
CREDENTIAL_ERRORS = (
    aws.NoCredentialsError,
    aws.PartialCredentialsError,
    aws.CredentialRetrievalError,
    aws.UnknownCredentialError,
    aws.NoAuthTokenError,
    aws.TokenRetrievalError,
    aws.SSOError,
    aws.InvalidConfigError,
    aws.RefreshWithMFAUnsupportedError,
    aws.MetadataRetrievalError,
    aws.ConfigParseError,
)
log = logging.getLogger("rekey_cli.cli")

DESCRIPTION = """\
Rotate IAM user access keys across an AWS Organization.

Configured by environment variables (the same as the Lambdas): REKEY_WORK_QUEUE_URL and
REKEY_TOPIC_ARN are required; see README.md for the rest. AWS_ENDPOINT_URL points every
client at an emulator.
"""

EPILOG = """\
examples:
  rekey sweep --dry-run          what would be queued today, writing nothing
  rekey run                      one day of production: sweep, then drain the work queue
  rekey plan --days 30           what happens to each key in the next 30 days
  rekey report --html r.html     compliance evidence (CIS 2.12, Security Hub IAM.3)
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rekey", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"rekey {version('rekey')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = add_command(
        sub,
        "sweep",
        summary="scan every account and queue today's work items",
        description="Scan every ACTIVE account of the organization and queue one work item per key action.",
        examples=["rekey sweep --dry-run --json | jq '.accounts[].items'"],
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan; queue and announce nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add_command(
        sub,
        "work",
        summary="run the worker over the work queue",
        description="Run the worker handler over the work queue until no message is visible. Failed items "
        "stay on the queue for redelivery and, after the queue's maxReceiveCount, its DLQ.",
        examples=["rekey work --drain"],
    )
    p.add_argument("--drain", action="store_true", required=True, help="process until the queue is empty")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add_command(
        sub,
        "run",
        summary="one day of production: sweep, then drain the work queue",
        description="Sweep, then drain the work queue: what the scheduled Lambdas do in a day.",
        examples=["rekey run --json"],
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    for name, module in _plugins().items():
        if isinstance(module, str):  # its package is not installed
            sub.add_parser(name, help=f"(not installed: {module})", add_help=False)
        else:
            module.add_parser(sub)

    consumer.add_parser(sub)
    operations_cli.add_parsers(sub)

    return parser


@functools.cache
def _plugins() -> dict[str, ModuleType | str]:
    """Commands other packages add to `rekey` (entry points of the group `rekey.commands`, e.g.
    the demo of rekey_dev): the module, or why it cannot be loaded. The CLI never imports them by
    name: imports flow dev -> CLI -> core."""
    found: dict[str, ModuleType | str] = {}
    for point in entry_points(group="rekey.commands"):
        try:
            found[point.name] = importlib.import_module(point.value)
        except ImportError as exc:
            found[point.name] = _needs_extra(exc)
    return found


def _needs_extra(exc: ImportError) -> str:
    return f"needs the `local` extra (no module {exc.name or exc}): pip install 'rekey[local]'"


def main(argv: Sequence[str] | None = None) -> int:
    """`rekey ARGV`: the exit status. Every failure is one line on stderr, never a traceback:
    this is the one place they are caught."""
    args = _parser().parse_args(argv)
    _configure_logging([logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
    try:
        return _command(args)
    except KeyboardInterrupt:
        print("rekey: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        code, line = failure(exc)
        print("rekey: " + " ".join(part.strip() for part in line.splitlines()), file=sys.stderr)
        return code


def failure(exc: Exception) -> tuple[int, str]:
    """The exit status and message for what ended a command: rekey's errors by class, botocore's
    by class or AWS error code, never by message text."""
    if isinstance(exc, ConfigurationError | UsageError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, RekeyError):
        return EXIT_FAILED, f"{exc.code}: {exc}"
    if isinstance(exc, aws.ProfileNotFound):
        return EXIT_CONFIG, f"no AWS profile {exc.kwargs.get('profile')!r} in the AWS config (AWS_PROFILE)"
    if isinstance(exc, aws.NoRegionError):
        return EXIT_CONFIG, "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION)"
    if isinstance(exc, CREDENTIAL_ERRORS):
        return EXIT_CONFIG, f"no usable AWS credentials: {exc}"
    if isinstance(exc, aws.ClientError):  # a call made outside an adapter (the work queue's drain)
        error = translate(exc, exc.operation_name)
        return EXIT_FAILED, f"{error.code}: {error}"
    if isinstance(exc, aws.ConnectionError | aws.HTTPClientError):
        return EXIT_FAILED, f"cannot reach AWS: {exc}"
    if isinstance(exc, aws.BotoCoreError):
        return EXIT_FAILED, f"AWS SDK: {type(exc).__name__}: {exc}"
    log.debug("unexpected failure", exc_info=exc)
    return EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc} (-vv shows where)"


def _command(args: argparse.Namespace) -> int:
    if args.command == "credential-process":  # a consumer's machine: no REKEY_* configuration
        return consumer.run_cli(args)
    plugin = _plugins().get(args.command)
    if isinstance(plugin, str):
        print(f"rekey: {args.command}: {plugin}", file=sys.stderr)
        return EXIT_CONFIG
    if plugin is not None:  # e.g. the demo: sets up its own emulator and environment
        try:
            return int(plugin.main(args))
        except ModuleNotFoundError as exc:
            print(f"rekey: {args.command}: {_needs_extra(exc)}", file=sys.stderr)
            return EXIT_CONFIG
    rt = Runtime.build(Settings.from_env(require=REQUIRED))
    if args.command == "sweep":
        code, result = _sweep(rt, dry_run=args.dry_run, as_json=args.json)
        if not args.dry_run:
            _digest(rt, result, [], as_json=args.json)
        return code
    if args.command == "work":
        return _work(rt, as_json=args.json, recorder=Recorder())
    if args.command in operations_cli.COMMANDS:
        return operations_cli.run(args, rt)
    code, result = _sweep(rt, dry_run=False, as_json=args.json)
    recorder = Recorder()
    code = max(code, _work(rt, as_json=args.json, recorder=recorder))
    _digest(rt, result, recorder.notifications, as_json=args.json)  # after the drain: it includes the work
    return code


def _configure_logging(level: int) -> None:
    """Plain log lines on stderr (stdout carries the command's output); the Lambdas log JSON.
    The AWS SDK's loggers stay at WARNING at any verbosity: at DEBUG they log secrets."""
    quiet_sdk_loggers()
    handler = logging.StreamHandler(sys.stderr)
    # On a terminal a log line first erases the progress line it would otherwise run into.
    prefix = CLEAR_LINE if sys.stderr.isatty() else ""
    handler.setFormatter(logging.Formatter(prefix + "%(levelname)s %(name)s: %(message)s"))
    for name in ("rekey", "rekey_cli", "rekey_dev", "aws_lambda_powertools"):
        log = logging.getLogger(name)
        log.handlers = [handler]
        log.setLevel(level)
        log.propagate = False


def _sweep(rt: Runtime, *, dry_run: bool, as_json: bool) -> tuple[int, SweepResult]:
    started = time.monotonic()
    with Progress("accounts scanned") as progress:
        result = sweep(rt, new_sweep_id(rt.now()), dry_run=dry_run, progress=progress)
    recorder = Recorder()
    recorder.listed(len(result.accounts))
    for account in result.accounts:
        recorder.scanned(account)
    recorder.sweep_duration(time.monotonic() - started)
    log.info("sweep metrics: %s", recorder.summary())
    if as_json:
        print(json.dumps(sweep_json(result, dry_run=dry_run), indent=2))
    else:
        print(sweep_text(result, dry_run=dry_run))
    return (EXIT_FAILED if result.failed else EXIT_OK), result


def _digest(rt: Runtime, result: SweepResult, announced: list[Notification], *, as_json: bool) -> None:
    """Publish the day's digest (its failure is logged: the work it summarises is done)."""
    digest = cli_digest(rt, result, announced)
    failed = publish(rt, [digest])
    if not as_json:
        print(f"{'could not publish' if failed else 'published'} the digest: {digest.subject()}")


def sweep_json(result: SweepResult, *, dry_run: bool) -> dict[str, Any]:
    return {
        "sweep_id": result.sweep_id,
        "dry_run": dry_run,
        "accounts": [
            {
                "account_id": a.account_id,
                "name": a.account_name,
                "users_in_scope": a.users_in_scope,
                "users_checked": a.users_checked,
                "error": a.error,
                "items": [i.model_dump(mode="json") for i in a.items],
                "notifications": [n.model_dump(mode="json", exclude_none=True) for n in a.notifications],
            }
            for a in result.accounts
        ],
    }


def sweep_text(result: SweepResult, *, dry_run: bool) -> str:
    verb = "would queue" if dry_run else "queued"
    lines = [f"sweep {result.sweep_id}: {len(result.accounts)} account(s), {verb} {len(result.items)} work item(s)"]
    for a in result.accounts:
        label = f"{a.account_id} {a.account_name}".strip()
        if a.error:
            lines.append(f"  {label}: FAILED {a.error}")
            continue
        lines.append(f"  {label}: {a.users_in_scope} user(s) in scope, {a.users_checked} checked")
        for i in a.items:
            lines.append(f"    {i.action.value:<16} {i.user_name:<24} {i.key_id or '-':<22} {i.reason}")
        for n in a.notifications:
            lines.append(f"    {n.event.value:<16} {n.user_name or '-':<24} {n.message}")
    return "\n".join(lines)


def _work(rt: Runtime, *, as_json: bool, recorder: Recorder) -> int:
    outcomes: list[WorkOutcome] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return worker.process(event, rt, recorder, outcomes)

    result = drain(rt.clients.hub("sqs"), rt.settings.work_queue_url, handler)
    log.info("work metrics: %s", recorder.summary())
    if as_json:
        print(
            json.dumps(
                {
                    "received": result.received,
                    "succeeded": result.succeeded,
                    "failed": result.failed,
                    "outcomes": [
                        {"item": o.item.model_dump(mode="json"), "status": o.status, "detail": o.detail}
                        for o in outcomes
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"work: {result.received} item(s): {result.succeeded} handled, {result.failed} failed (left for retry)")
        for o in outcomes:
            print(f"  {o.status:<8} {o.item.action.value:<16} {o.item.account_id}/{o.item.user_name}: {o.detail}")
    return EXIT_FAILED if result.failed else EXIT_OK
