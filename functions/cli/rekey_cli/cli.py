"""The `rekey` command: the same use cases and handlers as the Lambdas, configured by the
same environment variables. The CLI's composition root: the only module of rekey_cli that builds
the runtime (rekey.runtime) or touches the adapters (rekey.adapters); every other one takes the
ports it is handed (rekey.ports, rekey_cli.ports)."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from types import ModuleType
from typing import Any, TypeVar

import boto3
import rekey_credential_process as consumer
from botocore import exceptions as aws

from rekey.adapters.errors import error_code, translate
from rekey.domain.errors import ConfigurationError, RekeyError, UsageError
from rekey.handlers import worker
from rekey.handlers.common import quiet_sdk_loggers
from rekey.messages import Event, Notification, Severity
from rekey.metrics import Recorder
from rekey.runtime import Runtime
from rekey.settings import NO_REGION, REQUIRED, Settings
from rekey.use_cases.announce import notice, publish
from rekey.use_cases.digest import cli_digest
from rekey.use_cases.sweep import SweepResult, new_sweep_id, sweep
from rekey.use_cases.work import WorkOutcome

from . import advise_cli, operations_cli
from .arguments import Parser, add_command
from .entry import interrupted
from .hub_endpoint import SignedEndpoint
from .ports import HubEndpoint, OperatorPorts
from .progress import CLEAR_LINE, Progress
from .sqs_source import DrainStopped, drain
from .trail_bucket import TrailBucket

# 2: the invocation is at fault (a setting, an argument); Ctrl-C is entry.EXIT_INTERRUPTED (130).
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
# The distribution, as pip knows it: `rekey` on the package index is an unrelated project.
DISTRIBUTION = "rekey-aws"
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
Done = TypeVar("Done")
FAILURE_EVENTS = (Event.FAILED, Event.DEAD_LETTERED, Event.REJECTED)


class Incomplete(Exception):
    """A command did all it could and printed it, but not everything succeeded: why, in one line."""


class ErrorsLogged(logging.Handler):
    """The errors rekey logged during a command (an announcement it could not publish, a record
    the digest will miss): a command that logged one does not exit 0."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.first is None:
            self.first = record.getMessage()


class Steps:
    """The steps of a command that go on after one fails (`rekey run`: a failed sweep still lets
    the queue drain and the digest go out). A step's unexpected failure is announced as `failed`
    where the topic allows; the first one ends the command once every step has run."""

    def __init__(self, rt: Runtime, recorder: Recorder) -> None:
        self._rt = rt
        self._recorder = recorder
        self._failure: Exception | None = None
        self._incomplete: list[str] = []

    def attempt(self, what: str, step: Callable[[], Done]) -> Done | None:
        try:
            return step()
        except Incomplete as exc:
            self.incomplete(str(exc))
        except Exception as exc:
            self._failure = self._failure or exc
            cause = exc.cause if isinstance(exc, DrainStopped) else exc
            if not isinstance(cause, RekeyError | aws.ClientError):  # no credentials, no network: no topic either
                return None
            _, line = failure(exc)
            failed = notice(
                Event.FAILED, Severity.ERROR, self._rt.settings.hub_account_id, f"{what}: {line}", self._rt.now()
            )
            publish(self._rt, [failed])
            self._recorder.announced([failed])  # and in the digest, if it goes out
        return None

    def incomplete(self, line: str) -> None:
        """A step did what it could and reported the rest (already announced)."""
        self._incomplete.append(line)

    def end(self) -> int:
        """EXIT_OK, or raise what ended the command (to rekey_cli.cli.main)."""
        if self._failure is not None:
            raise self._failure
        if self._incomplete:
            raise Incomplete("; ".join(self._incomplete))
        return EXIT_OK


DESCRIPTION = """\
Rotate IAM user access keys across an AWS Organization.

Configured by environment variables (the same as the Lambdas): REKEY_WORK_QUEUE_URL and
REKEY_TOPIC_ARN are required by the commands that act (sweep, work, run); plan, report, advise
and sweep --dry-run write nothing and need neither. See README.md for the rest. The region is
AWS_REGION, AWS_DEFAULT_REGION or the AWS profile's. AWS_ENDPOINT_URL points every client at an
emulator. rotate-now and rollback need only REKEY_OPERATOR_URL: the hub carries them out.
"""

EPILOG = """\
examples:
  rekey sweep --dry-run          what would be queued today, writing nothing
  rekey run                      one day of production: sweep, then drain the work queue
  rekey plan --days 30           what happens to each key in the next 30 days
  rekey report --html r.html     compliance evidence (CIS 2.12, Security Hub IAM.3)
  rekey advise                   what should replace each key (a role, OIDC...), with the evidence
"""


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rekey", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"rekey {_version()}")
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
    advise_cli.add_parser(sub)

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
    return f"needs the `local` extra (no module {exc.name or exc}): pip install '{DISTRIBUTION}[local]'"


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree (PYTHONPATH), not installed
        return "(not installed)"


def main(
    argv: Sequence[str] | None = None, *, operators: OperatorPorts | None = None, hub: HubEndpoint | None = None
) -> int:
    """`rekey ARGV`: the exit status. Every failure is one line on stderr, never a traceback:
    this is the one place they are caught, from the parsing of ARGV (a usage error) to the end
    of the command (Ctrl-C included, at start-up too). `operators` and `hub` are what plan and
    report, and rotate-now and rollback, reach instead of AWS (tests/fakes.py's)."""
    try:
        args = _parser().parse_args(argv)
        errors = _configure_logging([logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)])
        return _command(args, errors, operators, hub)
    except KeyboardInterrupt:
        return interrupted()
    except Exception as exc:
        code, line = failure(exc)
        print("rekey: " + " ".join(part.strip() for part in line.splitlines()), file=sys.stderr)
        return code


def failure(exc: Exception) -> tuple[int, str]:
    """The exit status and message for what ended a command: rekey's errors by class, botocore's
    by class or AWS error code, never by message text."""
    if isinstance(exc, DrainStopped):
        return failure(exc.cause)
    if isinstance(exc, Incomplete):
        return EXIT_FAILED, str(exc)
    if isinstance(exc, ConfigurationError | UsageError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, RekeyError):
        return EXIT_FAILED, f"{exc.code}: {exc}"
    if isinstance(exc, aws.ProfileNotFound):
        return EXIT_CONFIG, f"no AWS profile {exc.kwargs.get('profile')!r} in the AWS config (AWS_PROFILE)"
    if isinstance(exc, aws.NoRegionError):
        return EXIT_CONFIG, NO_REGION
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


def _command(
    args: argparse.Namespace, errors: ErrorsLogged, operators: OperatorPorts | None, hub: HubEndpoint | None
) -> int:
    if args.command == "credential-process":  # a consumer's machine: no REKEY_* configuration
        return consumer.run_cli(args)
    if args.command in operations_cli.HUB_COMMANDS:  # the hub acts; this shell only asks it
        if operations_cli.ask_hub(args, hub or SignedEndpoint()) != EXIT_OK:  # the hub's answer is printed
            raise Incomplete(f"{args.command}: not done (see its output)")
        return EXIT_OK
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
    if args.command == "advise":
        code = _advise(args, operators)
    elif args.command in operations_cli.COMMANDS:
        code = _operators_command(args, operators or _start(args))
    else:
        code = _rekey_command(args, _start(args))
    if errors.first is not None:
        raise Incomplete(f"{errors.first} (and any error logged after it)")
    return code


def _start(args: argparse.Namespace) -> Runtime:
    """The runtime, from this shell's AWS profile (its region and credentials) and environment."""
    session = boto3.session.Session()
    settings = Settings.from_env(_environment(session), require=_requires(args))
    if session.get_credentials() is None:  # said once, before anything is tried
        raise aws.NoCredentialsError()
    return Runtime.build(settings)


def _requires(args: argparse.Namespace) -> tuple[str, ...]:
    """The settings a command needs: plan, report, advise and a dry-run sweep write nothing, so neither
    the work queue nor the topic."""
    writes = args.command not in (*operations_cli.COMMANDS, "advise") and not getattr(args, "dry_run", False)
    return REQUIRED if writes else ()


def _environment(session: boto3.session.Session) -> dict[str, str]:
    """This shell's environment, with the AWS profile's region when no variable names one (as
    the AWS CLI reads it)."""
    env = dict(os.environ)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        region = session.region_name
        if region:
            env["AWS_REGION"] = region
    return env


def _operators_command(args: argparse.Namespace, ports: OperatorPorts) -> int:
    if operations_cli.run(args, ports) != EXIT_OK:  # what failed is in the command's output
        raise Incomplete(f"{args.command}: not everything succeeded (see its output)")
    return EXIT_OK


def _advise(args: argparse.Namespace, operators: OperatorPorts | None) -> int:
    """`rekey advise`, its arguments checked before anything is read; with --trail-bucket, the
    trail's files are read with this shell's own credentials."""
    advise_cli.sources_of(args)
    advise_cli.networks_of(args)
    ports = operators or _start(args)
    extra = []
    if args.trail_bucket:
        bucket, _, prefix = args.trail_bucket.partition("/")
        s3 = (
            ports.clients.hub("s3")
            if isinstance(ports, Runtime)
            else boto3.client("s3", region_name=ports.settings.region)
        )
        extra.append(TrailBucket(s3, bucket, prefix))
    if advise_cli.run(args, ports, extra) != EXIT_OK:
        raise Incomplete("advise: not every account could be read (see its output)")
    return EXIT_OK


def _rekey_command(args: argparse.Namespace, rt: Runtime) -> int:
    if args.command == "sweep" and args.dry_run:
        result = _sweep(rt, dry_run=True, as_json=args.json)
        if result.failed:
            raise Incomplete(not_scanned(result))
        return EXIT_OK
    return _day(rt, sweep=args.command in ("sweep", "run"), work=args.command in ("work", "run"), as_json=args.json)


def _day(rt: Runtime, *, sweep: bool, work: bool, as_json: bool) -> int:
    """The sweep, the drain of the work queue, the digest (of the sweep and the work): each one
    attempted whatever failed before it."""
    recorder = Recorder()
    steps = Steps(rt, recorder)
    swept = steps.attempt("the sweep", lambda: _sweep(rt, dry_run=False, as_json=as_json)) if sweep else None
    if swept and swept.failed:
        steps.incomplete(not_scanned(swept))
    if work:
        steps.attempt("the work queue's drain", lambda: _work(rt, as_json=as_json, recorder=recorder))
    if sweep:  # after the drain: the digest includes the work
        result = swept or SweepResult(new_sweep_id(rt.now()), [])  # no account could be listed
        steps.attempt("the digest", lambda: _digest(rt, result, recorder.notifications, as_json=as_json))
    return steps.end()


def _configure_logging(level: int) -> ErrorsLogged:
    """Plain log lines on stderr (stdout carries the command's output); the Lambdas log JSON.
    The AWS SDK's loggers stay at WARNING at any verbosity: at DEBUG they log secrets.
    Returns what counts the errors logged."""
    quiet_sdk_loggers()
    handler = logging.StreamHandler(sys.stderr)
    # On a terminal a log line first erases the progress line it would otherwise run into.
    prefix = CLEAR_LINE if sys.stderr.isatty() else ""
    handler.setFormatter(logging.Formatter(prefix + "%(levelname)s %(name)s: %(message)s"))
    errors = ErrorsLogged()
    for name in ("rekey", "rekey_cli", "rekey_dev", "aws_lambda_powertools"):
        log = logging.getLogger(name)
        log.handlers = [handler, errors]
        log.setLevel(level)
        log.propagate = False
    return errors


def _sweep(rt: Runtime, *, dry_run: bool, as_json: bool) -> SweepResult:
    """The sweep, printed (the accounts it could not scan too)."""
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
    return result


def not_scanned(result: SweepResult) -> str:
    """One line for the accounts a sweep could not scan (each one is in its output)."""
    first = result.failed[0]
    return f"{len(result.failed)} of {len(result.accounts)} account(s) not scanned, {first.account_id}: {first.error}"


def _digest(rt: Runtime, result: SweepResult, announced: list[Notification], *, as_json: bool) -> None:
    """Publish the day's digest; a failure is raised after it is printed."""
    digest = cli_digest(rt, result, announced)
    try:
        rt.notifier().publish(digest)
    except RekeyError:
        if not as_json:
            print(f"could not publish the digest: {digest.subject()}")
        raise
    if not as_json:
        print(f"published the digest: {digest.subject()}")


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


NO_SUCH_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def _no_such_queue(exc: Exception) -> str | None:
    """The AWS error code that says the queue does not exist, if that is what `exc` says."""
    code = error_code(exc) if isinstance(exc, aws.ClientError) else None
    return code if code in NO_SUCH_QUEUE else None


def _work(rt: Runtime, *, as_json: bool, recorder: Recorder) -> None:
    """Drain the work queue and print what was done, also when the drain stopped on an SQS
    failure (raised after). Items that failed are in the output (and announced)."""
    outcomes: list[WorkOutcome] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return worker.process(event, rt, recorder, outcomes)

    announced_before = len(recorder.notifications)
    stopped: DrainStopped | None = None
    try:
        result = drain(rt.clients.hub("sqs"), rt.settings.work_queue_url, handler)
    except DrainStopped as exc:
        missing = _no_such_queue(exc.cause)
        if exc.result.received == 0 and missing:  # before anything: the setting
            url = rt.settings.work_queue_url
            raise ConfigurationError(f"REKEY_WORK_QUEUE_URL names no queue: {url} ({missing})") from None
        stopped, result = exc, exc.result
    log.info("work metrics: %s", recorder.summary())
    if as_json:
        print(
            json.dumps(
                {
                    "received": result.received,
                    "succeeded": result.succeeded,
                    "failed": result.failed,
                    "not_deleted": result.undeleted,
                    "outcomes": [
                        {"item": o.item.model_dump(mode="json"), "status": o.status, "detail": o.detail}
                        for o in outcomes
                    ],
                },
                indent=2,
            )
        )
    else:
        undeleted = f", {result.undeleted} not deleted (they come back, then do nothing)" if result.undeleted else ""
        print(
            f"work: {result.received} item(s): {result.succeeded} handled, {result.failed} failed (left for retry)"
            + undeleted
        )
        for o in outcomes:
            print(f"  {o.status:<8} {o.item.action.value:<16} {o.item.account_id}/{o.item.user_name}: {o.detail}")
    if stopped is not None:
        raise stopped
    if result.failed:
        failures = [n for n in recorder.notifications[announced_before:] if n.event in FAILURE_EVENTS]
        why = f": {failures[0].user_name}: {failures[0].message}" if failures else ""
        raise Incomplete(f"{result.failed} work item(s) failed, left on the queue for retry{why}")
