"""The operators' subcommands of `rekey`: plan, report, rotate-now, rollback."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from rekey.domain.errors import UsageError
from rekey.domain.scope import parse_day
from rekey.runtime import Runtime

from . import operations
from .report import plan_csv, plan_json, plan_text, report_csv, report_html, report_json, report_text

COMMANDS = ("plan", "report", "rotate-now", "rollback")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_RAW = argparse.RawDescriptionHelpFormatter


def _day(value: str) -> date:
    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _days(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 3660:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days from 1 to 3660")
    return int(value)


def add_parsers(sub: Any) -> None:
    """Register the operators' subcommands on `rekey`'s subparsers."""
    p = sub.add_parser(
        "plan",
        help="forecast: what happens to each key on which date",
        description="Forecast, for every key of every tagged user, what rekey will do on which date over the "
        "next N days under the current policy (today first), assuming nobody else touches the keys and no old "
        "key is used again. Reads every tagged user's keys and secret; writes nothing.",
        epilog="examples:\n  rekey plan\n  rekey plan --days 90 --csv > plan.csv\n"
        "  rekey plan --json | jq '.actions[] | select(.action == \"deactivate\")'",
        formatter_class=_RAW,
    )
    p.add_argument("--days", type=_days, default=30, metavar="N", help="how many days ahead (default 30)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="one CSV row per planned action")

    p = sub.add_parser(
        "report",
        help="compliance evidence: every key, its age, status, use, policy and next action",
        description="Compliance evidence (CIS AWS Foundations 2.12, Security Hub IAM.3): every access key of "
        "every user in rekey's accounts, in scope or not, with its age, status, last use, policy and days to "
        "its next action; counts per account; active keys over 90 days flagged; exemptions with their expiry "
        "and reason. Prints a summary; --html, --csv and --json write the full report. Writes nothing in AWS.",
        epilog="examples:\n  rekey report\n  rekey report --html compliance.html --csv keys.csv\n"
        "  rekey report --json | jq '.keys[] | select(.over_90_days)'",
        formatter_class=_RAW,
    )
    p.add_argument("--html", type=Path, metavar="PATH", help="write one self-contained HTML file")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one CSV row per key")
    p.add_argument("--json", action="store_true", help="print the full report as JSON instead of the summary")

    p = sub.add_parser(
        "rotate-now",
        help="incident response: rotate a user's key at once",
        description="Rotate the user's newest active key now, whatever its age and even if exempt, through the "
        "worker's own code path: the opt-in tag is required, the new key is stored and tested before it "
        "becomes the secret's current version, and a user with two active keys is refused. Announced.",
        epilog="examples:\n  rekey rotate-now --account 111122223333 --user svc-deploy\n"
        "  rekey rotate-now --account 111122223333 --user svc-deploy --revoke-old   # leaked key",
        formatter_class=_RAW,
    )
    p.add_argument("--account", required=True, metavar="ID", help="the user's 12-digit account id")
    p.add_argument("--user", required=True, metavar="NAME", help="the IAM user name")
    p.add_argument(
        "--revoke-old",
        action="store_true",
        help="deactivate the old key as soon as the new one is stored (consumers of the old key break)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "rollback",
        help="reactivate the key rekey deactivated and pause the user's lifecycle",
        description="Reactivate the key that rekey's last rotation replaced and deactivated (possible until it "
        "is deleted), and pause the user's lifecycle until a date: no rotation, deactivation or deletion "
        "before then (in-use warnings continue). The secret keeps the new key as current. Announced as "
        "`rolled-back`.",
        epilog="examples:\n  rekey rollback --account 111122223333 --user svc-deploy\n"
        "  rekey rollback --account 111122223333 --user svc-deploy --until 2026-12-15",
        formatter_class=_RAW,
    )
    p.add_argument("--account", required=True, metavar="ID", help="the user's 12-digit account id")
    p.add_argument("--user", required=True, metavar="NAME", help="the IAM user name")
    p.add_argument(
        "--until",
        type=_day,
        metavar="YYYY-MM-DD",
        help=f"last day of the pause, UTC (default: {operations.DEFAULT_PAUSE_DAYS} days from today; "
        "at most REKEY_MAX_PAUSE_DAYS)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, rt: Runtime) -> int:
    """Run an operator's subcommand; domain errors propagate to `rekey_cli.cli.main`."""
    rt.clients.as_person()  # sessions in member accounts carry the operator's identity
    if args.command == "plan":
        return _plan(rt, args)
    if args.command == "report":
        return _report(rt, args)
    if args.command == "rotate-now":
        return _rotate_now(rt, args)
    if args.command == "rollback":
        return _rollback(rt, args)
    raise UsageError(f"unknown command {args.command}")


def _plan(rt: Runtime, args: argparse.Namespace) -> int:
    result = operations.plan(rt, args.days)
    if args.json:
        print(json.dumps(plan_json(result), indent=2))
    elif args.csv:
        sys.stdout.write(plan_csv(result))
    else:
        print(plan_text(result))
    return EXIT_FAILED if result.failed else EXIT_OK


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _report(rt: Runtime, args: argparse.Namespace) -> int:
    rep = operations.report(rt)
    if args.html:
        _write(args.html, report_html(rep))
    if args.csv:
        _write(args.csv, report_csv(rep))
    if args.json:
        print(json.dumps(report_json(rep), indent=2))
    else:
        print(report_text(rep))
        for label, path in (("HTML", args.html), ("CSV", args.csv)):
            if path:
                print(f"{label} report written to {path}")
    return EXIT_FAILED if rep.failed else EXIT_OK


def _rotate_now(rt: Runtime, args: argparse.Namespace) -> int:
    outcome = operations.rotate_now(rt, args.account, args.user, revoke_old=args.revoke_old)
    events = [n.model_dump(mode="json", exclude_none=True) for n in outcome.notifications]
    if args.json:
        print(json.dumps({"status": outcome.status, "detail": outcome.detail, "events": events}, indent=2))
    else:
        print(f"rotate-now {args.account}/{args.user}: {outcome.status}: {outcome.detail}")
        for n in outcome.notifications:
            print(f"  {n.event.value:<12} {n.message}")
    return EXIT_OK if outcome.status == "done" else EXIT_FAILED


def _rollback(rt: Runtime, args: argparse.Namespace) -> int:
    result = operations.rollback(rt, args.account, args.user, until=args.until)
    if args.json:
        print(
            json.dumps(
                {
                    "account_id": result.account.account_id,
                    "user_name": result.user_name,
                    "key_id": result.key_id,
                    "reactivated": result.reactivated,
                    "paused_until": result.paused_until.isoformat(),
                    "secret_name": result.secret_name,
                    "message": result.message,
                },
                indent=2,
            )
        )
    else:
        print(f"rollback {args.account}/{args.user}: {result.message}")
    return EXIT_OK
