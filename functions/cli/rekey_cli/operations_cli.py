"""The operators' subcommands of `rekey`: plan and report (read here, through the member reader
role), rotate-now and rollback (asked of the hub, which acts through the member writer role).
On ports (rekey_cli.ports): the composition root, rekey_cli.cli, hands them over."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rekey.domain.errors import Unavailable, UsageError
from rekey.use_cases.operator import DEFAULT_PAUSE_DAYS

from . import compliance, hub_requests, plan
from .arguments import add_command, day, days
from .formats import write_file
from .ports import HubEndpoint, OperatorPorts
from .progress import Progress
from .render_html import report_html
from .render_plan import plan_csv, plan_json, plan_text
from .render_report import report_csv, report_json, report_text

COMMANDS = ("plan", "report")
# Carried out by the hub for the caller it authenticates: this shell needs no rekey settings
# but REKEY_OPERATOR_URL, and never enters a member account.
HUB_COMMANDS = ("rotate-now", "rollback", "resume")
HUB = (
    "Carried out by the hub, not this shell: the request is a POST to the hub's operator endpoint "
    "(REKEY_OPERATOR_URL, the hub stack's OperatorUrl output) signed with your AWS credentials (SigV4). "
    "The hub takes who you are from that signature, checks that REKEY_OPERATORS lets your role act on the "
    "account, and acts through the member writer role, which no operator holds."
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parsers(sub: Any) -> None:
    """Register the operators' subcommands on `rekey`'s subparsers."""
    p = add_command(
        sub,
        "plan",
        summary="forecast: what happens to each key on which date",
        description="Forecast, for every key of every tagged user, what rekey will do on which date over the "
        "next N days under the current policy (today first), assuming nobody else touches the keys and no old "
        "key is used again. Reads every tagged user's keys and secret; writes nothing.",
        examples=[
            "rekey plan",
            "rekey plan --days 90 --csv > plan.csv",
            "rekey plan --json | jq '.actions[] | select(.action == \"deactivate\")'",
        ],
    )
    p.add_argument("--days", type=days, default=30, metavar="N", help="how many days ahead (default 30)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable output")
    fmt.add_argument("--csv", action="store_true", help="one CSV row per planned action")

    p = add_command(
        sub,
        "report",
        summary="compliance evidence: every key, its age, status, use, policy and next action",
        description="Compliance evidence (CIS AWS Foundations 2.12, Security Hub IAM.3): every access key of "
        "every user in rekey's accounts, in scope or not, with its age, status, last use, policy and days to "
        "its next action; each key's verdict under CIS 2.12, IAM.3 and the org policy; the accounts not checked "
        "(excluded, unreachable) and why; who ran it; the policy in force; exemptions with their expiry and reason. "
        "Prints a summary; --html, --csv and --json write the full report. Writes nothing in AWS.",
        examples=[
            "rekey report",
            "rekey report --html compliance.html --csv keys.csv",
            "rekey report --json | jq '.keys[] | select(.cis_2_12 == \"fail\")'",
        ],
    )
    p.add_argument("--html", type=Path, metavar="PATH", help="write one self-contained HTML file")
    p.add_argument("--csv", type=Path, metavar="PATH", help="write one CSV row per key")
    p.add_argument("--json", action="store_true", help="print the full report as JSON instead of the summary")

    p = add_command(
        sub,
        "rotate-now",
        summary="incident response: rotate a user's key at once",
        description="Rotate the user's newest active key now, whatever its age and even if exempt, through the "
        "worker's own code path: the opt-in tag is required, the new key is stored and tested before it "
        "becomes the secret's current version. With --key-id, the named key leaked: it is revoked, replaced "
        "first if consumers read it from the secret, also while the user has two active keys. Announced, "
        "naming you. " + HUB,
        examples=[
            "rekey rotate-now --account 111122223333 --user svc-deploy",
            "rekey rotate-now --account 111122223333 --user svc-deploy --revoke-old   # leaked key",
            "rekey rotate-now --account 111122223333 --user svc-deploy --key-id AKIA...   # this key leaked",
        ],
    )
    p.add_argument("--account", required=True, metavar="ID", help="the user's 12-digit account id")
    p.add_argument("--user", required=True, metavar="NAME", help="the IAM user name")
    p.add_argument(
        "--revoke-old",
        action="store_true",
        help="deactivate the old key as soon as the new one is stored (consumers of the old key break)",
    )
    p.add_argument(
        "--key-id",
        metavar="AKIA...",
        help="the key that leaked: revoked (never reactivated by rollback), replaced first if it is the secret's "
        "current key; the user's other key is retired to make room if need be",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add_command(
        sub,
        "rollback",
        summary="reactivate the key rekey deactivated and pause the user's lifecycle",
        description="Reactivate the key that rekey's last rotation replaced and deactivated (possible until it "
        "is deleted), and pause the user's lifecycle until a date: no rotation, deactivation or deletion "
        "before then (in-use warnings continue). The secret keeps the new key as current. Announced as "
        "`rolled-back`, naming you. " + HUB,
        examples=[
            "rekey rollback --account 111122223333 --user svc-deploy",
            "rekey rollback --account 111122223333 --user svc-deploy --until 2026-12-15",
        ],
    )
    p.add_argument("--account", required=True, metavar="ID", help="the user's 12-digit account id")
    p.add_argument("--user", required=True, metavar="NAME", help="the IAM user name")
    p.add_argument(
        "--until",
        type=day,
        metavar="YYYY-MM-DD",
        help=f"last day of the pause, UTC (default: {DEFAULT_PAUSE_DAYS} days from today; "
        "at most REKEY_MAX_PAUSE_DAYS)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add_command(
        sub,
        "resume",
        summary="resume key changes after the breaker halted them",
        description="When a day's signs of breakage (failed key changes, dead-lettered items, keys deactivated "
        "while still in use, rollbacks) pass the breaker's threshold, rekey halts every key change in every "
        "account, announces `halted` with the evidence and keeps scanning. Once the cause is understood, this "
        "resumes them: the next sweep carries on where they stopped. Announced as `resumed`, naming you; only "
        "an operator of every account (REKEY_OPERATORS scope *) may. " + HUB,
        examples=["rekey resume", "rekey resume --json"],
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, ports: OperatorPorts) -> int:
    """Run plan or report; domain errors propagate to `rekey_cli.cli.main`."""
    ports.act_for(ports.caller_arn())  # sessions in member accounts are named after the operator
    if args.command == "plan":
        return _plan(ports, args)
    if args.command == "report":
        return _report(ports, args)
    raise UsageError(f"unknown command {args.command}")


def ask_hub(args: argparse.Namespace, hub: HubEndpoint) -> int:
    """Send rotate-now or rollback to the hub and print its answer; domain errors (the hub's
    refusals among them) propagate to `rekey_cli.cli.main`."""
    if args.command == "rotate-now":
        return _rotate_now(args, hub)
    if args.command == "rollback":
        return _rollback(args, hub)
    if args.command == "resume":
        return _resume(args, hub)
    raise UsageError(f"unknown command {args.command}")


def _plan(ports: OperatorPorts, args: argparse.Namespace) -> int:
    with Progress("accounts read") as progress:
        result = plan.plan(ports, args.days, progress)
    if args.json:
        print(json.dumps(plan_json(result), indent=2))
    elif args.csv:
        sys.stdout.write(plan_csv(result))
    else:
        print(plan_text(result))
    return EXIT_FAILED if result.failed else EXIT_OK


def _report(ports: OperatorPorts, args: argparse.Namespace) -> int:
    with Progress("accounts read") as progress:
        rep = compliance.report(ports, progress)
    if args.html:
        write_file(args.html, report_html(rep))
    if args.csv:
        write_file(args.csv, report_csv(rep))
    if args.json:
        print(json.dumps(report_json(rep), indent=2))
    else:
        print(report_text(rep))
        for label, path in (("HTML", args.html), ("CSV", args.csv)):
            if path:
                print(f"{label} report written to {path}")
    return EXIT_FAILED if rep.failed else EXIT_OK


def _rotate_now(args: argparse.Namespace, hub: HubEndpoint) -> int:
    request = hub_requests.command(
        command="rotate-now",
        account_id=args.account,
        user_name=args.user,
        revoke_old=args.revoke_old,
        key_id=args.key_id,
    )
    answer = hub_requests.ask(hub, request)
    status, detail, events = answer.get("status"), answer.get("detail"), answer.get("events") or []
    if args.json:
        print(json.dumps({"status": status, "detail": detail, "events": events}, indent=2))
    else:
        print(f"rotate-now {args.account}/{args.user}: {status}: {detail}")
        for event in events:
            print(f"  {event.get('event', ''):<12} {event.get('message', '')}")
    return EXIT_OK if status == "done" else EXIT_FAILED


def _rollback(args: argparse.Namespace, hub: HubEndpoint) -> int:
    request = hub_requests.command(command="rollback", account_id=args.account, user_name=args.user, until=args.until)
    answer = hub_requests.ask(hub, request)
    if args.json:
        print(json.dumps({k: v for k, v in answer.items() if k not in ("command", "unannounced")}, indent=2))
    else:
        print(f"rollback {args.account}/{args.user}: {answer.get('message')}")
    if answer.get("unannounced"):
        raise Unavailable(f"rolled back, but the hub could not announce it: {answer['unannounced']}")
    return EXIT_OK


def _resume(args: argparse.Namespace, hub: HubEndpoint) -> int:
    answer = hub_requests.ask(hub, hub_requests.command(command="resume"))
    if args.json:
        print(json.dumps({k: v for k, v in answer.items() if k != "command"}, indent=2))
    elif answer.get("resumed"):
        print(f"resumed: key changes were halted since {answer.get('halted_since')} for:")
        for sign in answer.get("evidence") or []:
            print(f"  {sign}")
    else:
        print("rekey was not halted: nothing to resume")
    return EXIT_OK
