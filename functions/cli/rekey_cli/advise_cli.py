"""`rekey advise`: for every active key of the tagged users in rekey's accounts, what should
replace it (rekey.use_cases.advise), with the evidence. Reads through the member reader role
(and a trail's bucket and an Access Analyzer analyzer with this shell's credentials); writes
nothing in AWS. On ports: the
composition root (rekey_cli.cli) hands over the ports and the extra sources of events."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rekey.domain.errors import UsageError
from rekey.domain.networks import Networks, NetworksError, from_aws_ip_ranges, from_github_meta, from_named, pinned
from rekey.ports import KeyActivity

from .advice import AdviceRun, run_advisor
from .arguments import add_command
from .formats import write_file
from .ports import OperatorPorts
from .progress import Progress
from .render_advice import advice_html, advice_json, advice_text

EXIT_OK, EXIT_FAILED = 0, 1
SOURCES = ("history", "bucket")


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "advise",
        summary="what should replace each long-lived key (a role, OIDC, Identity Center...), with the evidence",
        description="For every active access key of the users carrying the opt-in tag, recommend what should "
        "replace it — github-oidc, ci-oidc, role-on-compute, identity-center, roles-anywhere — or delete (unused), "
        "keep (a use that still needs a key: CodeCommit Git over HTTPS, Keyspaces) or unknown (not enough evidence: "
        "it never guesses), with a confidence and the evidence behind each rule: the key's last use and the "
        "CloudTrail events it signed (user agents, source addresses, services, regions). Evidence comes from each "
        "member account's event history (LookupEvents through the reader role, 2 calls a second per account and "
        "region, the last 90 days of management events), with --trail-bucket a trail's log files, and with "
        "REKEY_ADVISOR_ANALYZER_ARN an unused-access analyzer's UnusedIAMUserAccessKey findings (IAM Access "
        "Analyzer, read with your credentials: run it in the analyzer's account). Read-only.",
        examples=[
            "rekey advise",
            "rekey advise --html advice.html --json > advice.json",
            "rekey advise --trail-bucket org-trail-logs --aws-ranges ip-ranges.json --github-meta meta.json",
        ],
    )
    p.add_argument("--json", action="store_true", help="print everything as JSON instead of the text")
    p.add_argument("--html", type=Path, metavar="PATH", help="write one printable, self-contained HTML file")
    p.add_argument(
        "--trail-bucket",
        metavar="BUCKET[/PREFIX]",
        help="also read a CloudTrail trail's log files there (an organization trail's bucket), with your credentials",
    )
    p.add_argument(
        "--sources",
        default=None,
        metavar="LIST",
        help="where events are read, comma-separated: history (each account's LookupEvents), bucket "
        "(--trail-bucket). Default: history, and bucket with --trail-bucket",
    )
    p.add_argument("--aws-ranges", type=Path, metavar="PATH", help="AWS's ip-ranges.json (default: a pinned subset)")
    p.add_argument("--github-meta", type=Path, metavar="PATH", help="GitHub's /meta answer (default: a pinned subset)")
    p.add_argument(
        "--networks",
        type=Path,
        metavar="PATH",
        help='more named ranges as JSON: {"ci:<system>": ["cidr", ...], "aws": [...], "github-actions": [...]}',
    )


def sources_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The sources asked for (UsageError for an unknown one, or bucket without a bucket)."""
    asked = tuple(s.strip() for s in (args.sources or "history").split(",") if s.strip())
    if args.sources is None and args.trail_bucket:
        asked += ("bucket",)
    unknown = [s for s in asked if s not in SOURCES]
    if unknown or not asked:
        raise UsageError(f"advise: --sources takes history and/or bucket, not {', '.join(unknown) or 'nothing'}")
    if "bucket" in asked and not args.trail_bucket:
        raise UsageError("advise: --sources bucket needs --trail-bucket BUCKET")
    return asked


def networks_of(args: argparse.Namespace) -> Networks:
    """The pinned ranges, replaced by the files given (UsageError for a file that is not one)."""
    nets = pinned()
    for path, parse in (
        (args.aws_ranges, from_aws_ip_ranges),
        (args.github_meta, from_github_meta),
        (args.networks, from_named),
    ):
        if path is None:
            continue
        try:
            nets = nets.merged(parse(json.loads(path.read_text(encoding="utf-8")), str(path)))
        except OSError as exc:
            raise UsageError(f"advise: cannot read {path}: {exc.strerror or exc}") from None
        except (ValueError, NetworksError) as exc:
            raise UsageError(
                f"advise: {exc}" if isinstance(exc, NetworksError) else f"advise: {path}: not JSON"
            ) from None
    return nets


def advise(args: argparse.Namespace, ports: OperatorPorts, extra: Sequence[KeyActivity]) -> AdviceRun:
    """The advice on every account, as `args` ask (UsageError for bad arguments): what `rekey
    advise` prints, and the demo shows."""
    asked = sources_of(args)
    nets = networks_of(args)
    with Progress("accounts read") as progress:
        return run_advisor(
            ports, nets, extra if "bucket" in asked else (), history="history" in asked, progress=progress
        )


def run(args: argparse.Namespace, ports: OperatorPorts, extra: Sequence[KeyActivity]) -> int:
    """`rekey advise`: the advice printed (text or JSON) and written (HTML)."""
    result = advise(args, ports, extra)
    if args.html:
        write_file(args.html, advice_html(result))
    if args.json:
        print(json.dumps(advice_json(result), indent=2))
    else:
        print(advice_text(result))
        if args.html:
            print(f"HTML written to {args.html}")
    return EXIT_FAILED if result.failed else EXIT_OK
