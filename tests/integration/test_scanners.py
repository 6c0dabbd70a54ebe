"""The templates judged by a scanner nobody here wrote (issue 28): checkov, pinned in its own venv
(.tools/checkov, `make checkov`), run over every template (hub/template.yaml, which it reads as
SAM, and spoke_templates/*.yaml). Each of its findings is decided in the template itself: fixed, or
skipped inline (`# checkov:skip=CKV_...:reason`) with a reason. A new finding nobody decided fails
here, and so does a skip without a reason or one docs/compliance.md does not list (and explain).
(Not moto-backed: here because it needs a tool venv, as the SAM tests do.)"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
TEMPLATES = [ROOT / "hub" / "template.yaml", *sorted((ROOT / "spoke_templates").glob("*.yaml"))]
COMPLIANCE = ROOT / "docs" / "compliance.md"
NO_REASON = {"", "No comment provided"}  # what checkov records for `checkov:skip=CKV_X` alone


def checkov() -> Path:
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make checkov` (checkov in its own venv)")
    return CHECKOV


def scan(templates: Iterable[Path]) -> dict[str, Any]:
    """checkov's JSON report over the templates, as one CloudFormation run (offline: it downloads
    nothing)."""
    files = [arg for template in templates for arg in ("-f", str(template))]
    done = subprocess.run(
        [str(checkov()), *files, "--framework", "cloudformation", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # 1 when a check fails: the report says which
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report


@functools.cache
def rekeys_report() -> dict[str, Any]:
    return scan(TEMPLATES)


def results(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return report.get("results", {}).get(f"{kind}_checks", [])


def where(check: dict[str, Any]) -> str:
    first, last = check["file_line_range"]
    place = f"{check['file_path'].lstrip('/')}:{first}-{last}"
    return f"{check['check_id']} {check['resource']} ({place}): {check['check_name']}"


def undecided(report: dict[str, Any]) -> list[str]:
    """Each finding neither fixed nor skipped with a reason, one readable line each."""
    failed = [where(c) for c in results(report, "failed")]
    reasonless = [
        where(c) + " [skipped without a reason]"
        for c in results(report, "skipped")
        if (c["check_result"].get("suppress_comment") or "").strip() in NO_REASON
    ]
    return failed + reasonless


def logical_id(check: dict[str, Any]) -> str:
    return check["resource"].split(".", 1)[1]  # AWS::SQS::Queue.ScanQueue -> ScanQueue


def documented() -> dict[str, set[tuple[str, str]]]:
    """docs/compliance.md's checkov table: (check id, logical id) per decision (fixed, skipped).
    A row: | `CKV_AWS_27` ... | ScanQueue, WorkQueue | skipped | why |"""
    decisions: dict[str, set[tuple[str, str]]] = {"fixed": set(), "skipped": set()}
    for line in COMPLIANCE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.match(r"`?(CKV2?_[A-Z0-9]+_[0-9]+)`?", cells[0]) if len(cells) >= 4 else None
        if match is None:
            continue
        decision = cells[2].strip("*").lower()
        assert decision in decisions, line
        for resource in cells[1].split(","):
            decisions[decision].add((match.group(1), resource.strip().strip("`")))
    return decisions


def test_every_finding_on_every_template_is_fixed_or_skipped_with_a_reason() -> None:
    assert len(TEMPLATES) == 5  # the hub, the spoke roles, the StackSet, the example user, the org reader
    report = rekeys_report()
    problems = undecided(report)
    assert not problems, (
        "checkov findings nobody decided: fix each, or skip it inline in the resource with its reason "
        "(# checkov:skip=CKV_...:why) and list it in docs/compliance.md:\n  " + "\n  ".join(problems)
    )
    assert report["summary"]["passed"] > 100  # it did read the templates


def test_each_skip_and_each_fix_is_the_one_docs_compliance_lists() -> None:
    report = rekeys_report()
    skipped = {(c["check_id"], logical_id(c)) for c in results(report, "skipped")}
    passed = {(c["check_id"], logical_id(c)) for c in results(report, "passed")}
    decisions = documented()
    assert skipped == decisions["skipped"], (
        f"skipped in the templates, not in docs/compliance.md: {sorted(skipped - decisions['skipped'])}; "
        f"in docs/compliance.md, not skipped: {sorted(decisions['skipped'] - skipped)}"
    )
    assert decisions["fixed"] and decisions["fixed"] <= passed, sorted(decisions["fixed"] - passed)


def test_an_undecided_finding_or_a_skip_without_a_reason_is_reported(tmp_path: Path) -> None:
    """The judge can fail: a queue nobody decided on, one skipped without a reason, one skipped
    with a reason and one fixed."""
    template = tmp_path / "template.yaml"
    template.write_text(
        """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Undecided:
    Type: AWS::SQS::Queue
  SkippedWithoutReason:
    Type: AWS::SQS::Queue
    Properties:
      # checkov:skip=CKV_AWS_27
      MessageRetentionPeriod: 60
  SkippedWithReason:
    Type: AWS::SQS::Queue
    Properties:
      # checkov:skip=CKV_AWS_27:encrypted by SSE-SQS
      SqsManagedSseEnabled: true
  Fixed:
    Type: AWS::SQS::Queue
    Properties:
      KmsMasterKeyId: alias/aws/sqs
"""
    )
    problems = undecided(scan([template]))
    assert [line.split(" (")[0] for line in problems] == [
        "CKV_AWS_27 AWS::SQS::Queue.Undecided",
        "CKV_AWS_27 AWS::SQS::Queue.SkippedWithoutReason",
    ]
    assert problems[1].endswith("[skipped without a reason]")
