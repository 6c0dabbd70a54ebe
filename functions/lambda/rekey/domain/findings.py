"""Security Hub findings (ASFF): one per tagged user, saying where its keys stand each sweep.

Every tagged user's finding is imported by each sweep (refreshing it: Security Hub drops a
finding not updated for 90 days). A finding whose 90-day controls pass and that needs nobody
is archived (RecordState ARCHIVED, compliance PASSED; Security Hub then resolves its
workflow), so the default view, active findings, holds exactly the users that need someone:
a key 90 days old or older (FAILED), or a user rekey cannot keep compliant (WARNING). A
finding whose user is no longer tagged, or gone, is archived by the account's sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .controls import CONTROL_TITLES, MAX_KEY_AGE_DAYS, Control, too_old
from .entities import ReportKey

GENERATOR_ID = "rekey-access-key-rotation"
# Security Hub's limits: 100 findings a BatchImportFindings call; Title 256, Description 1024.
FINDINGS_PER_CALL = 100
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
TYPES = [
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    "Software and Configuration Checks/AWS Security Best Practices",
]


class KeyState(StrEnum):
    COMPLIANT = "compliant"  # in rekey's care, nothing to do today
    DUE = "due"  # an action (rotate, deactivate, delete) is queued today
    BLOCKED = "blocked"  # rekey cannot go on (a broken or foreign secret, a full key slot...)
    MISCONFIGURED = "misconfigured"  # the user's rekey tags are invalid: untouched
    REFUSED = "refused"  # privileged, or outside the allowed path or boundary: never touched
    NOT_ADOPTED = "not-adopted"  # tagged but not rotated by rekey: opted out, or exempt


# States in which rekey cannot keep the user's keys compliant: someone has to act.
NEEDS_SOMEONE = frozenset({KeyState.BLOCKED, KeyState.MISCONFIGURED, KeyState.REFUSED})
_SEVERITY = {KeyState.REFUSED: "HIGH", KeyState.BLOCKED: "MEDIUM", KeyState.MISCONFIGURED: "MEDIUM"}


@dataclass(frozen=True)
class UserFinding:
    """One tagged user's standing today, with its keys as the credential report shows them."""

    user_arn: str
    user_name: str
    state: KeyState
    reason: str
    keys: Sequence[ReportKey]

    def too_old(self, now: datetime) -> list[ReportKey]:
        return [k for k in self.keys if too_old(k.active, k.age_days(now))]

    def compliance(self, now: datetime) -> str:
        if self.too_old(now):
            return "FAILED"
        return "WARNING" if self.state in NEEDS_SOMEONE else "PASSED"


def finding_id(user_arn: str) -> str:
    """A user's finding's Id: the same every sweep, so each import updates it."""
    return f"{GENERATOR_ID}/{user_arn}"


def product_arn(partition: str, region: str, account_id: str) -> str:
    """The default product of the member account: a finding is imported by its own account."""
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def asff_head(
    finding_id: str,
    generator_id: str,
    types: list[str],
    label: str,
    account_id: str,
    region: str,
    partition: str,
    now: datetime,
) -> dict[str, Any]:
    """What every rekey finding carries first: who imports it, where, when, and how severe."""
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id,
        "ProductArn": product_arn(partition, region, account_id),
        "GeneratorId": generator_id,
        "AwsAccountId": account_id,
        "Region": region,
        "Types": types,
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Severity": {"Label": label},
        "FindingProviderFields": {"Severity": {"Label": label}, "Types": types},
    }


def asff(finding: UserFinding, account_id: str, region: str, partition: str, now: datetime) -> dict[str, Any]:
    """The user's finding in the AWS Security Finding Format."""
    compliance = finding.compliance(now)
    old = finding.too_old(now)
    if compliance == "FAILED":
        label = "HIGH" if finding.state is KeyState.REFUSED else "MEDIUM"
    else:
        label = _SEVERITY.get(finding.state, "LOW") if compliance == "WARNING" else "INFORMATIONAL"
    ages = ", ".join(
        f"key {k.slot} {'active' if k.active else 'inactive'} {k.age_days(now)} days old" for k in finding.keys
    )
    headline = (
        f"{len(old)} active access key(s) {MAX_KEY_AGE_DAYS} days old or older"
        if old
        else f"no active access key {MAX_KEY_AGE_DAYS} days old or older"
    )
    return {
        **asff_head(finding_id(finding.user_arn), GENERATOR_ID, TYPES, label, account_id, region, partition, now),
        "Title": f"rekey: IAM user {finding.user_name} is {finding.state.value}: {headline}"[:TITLE_LIMIT],
        "Description": f"{finding.reason}. Keys: {ages or 'none'}."[:DESCRIPTION_LIMIT],
        "Compliance": {
            "Status": compliance,
            "RelatedRequirements": [CONTROL_TITLES[Control.CIS_2_12], CONTROL_TITLES[Control.IAM_3]],
        },
        "ProductFields": {"rekey/state": finding.state.value, "rekey/reason": finding.reason[:DESCRIPTION_LIMIT]},
        "Resources": [
            {
                "Type": "AwsIamUser",
                "Id": finding.user_arn,
                "Partition": partition,
                "Region": region,
                "Details": {"AwsIamUser": {"UserName": finding.user_name}},
            }
        ],
        # Security Hub keeps a workflow status an analyst set, and sets it itself when a finding
        # is archived or passes; a new finding starts as rekey says.
        "Workflow": {"Status": "NEW" if compliance != "PASSED" else "RESOLVED"},
        "RecordState": "ACTIVE" if compliance != "PASSED" else "ARCHIVED",
    }


def archived(existing: dict[str, Any], now: datetime, why: str) -> dict[str, Any]:
    """A finding of a user rekey no longer judges (untagged, or gone), archived."""
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        **{k: existing[k] for k in _KEPT if k in existing},
        "UpdatedAt": stamp,
        "Description": why[:DESCRIPTION_LIMIT],
        "ProductFields": {"rekey/state": "gone", "rekey/reason": why[:DESCRIPTION_LIMIT]},
        "Compliance": {**existing.get("Compliance", {}), "Status": "NOT_AVAILABLE"},
        "RecordState": "ARCHIVED",
    }


# What an archived finding keeps of the one Security Hub returned (the rest is Security Hub's).
_KEPT = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "Region",
    "Types",
    "CreatedAt",
    "Severity",
    "FindingProviderFields",
    "Title",
    "Resources",
    "Workflow",
)


def stale(active: Sequence[dict[str, Any]], tagged_arns: set[str]) -> list[dict[str, Any]]:
    """Of rekey's active findings in an account, those whose user is not tagged today."""
    return [f for f in active if not any(r.get("Id") in tagged_arns for r in f.get("Resources", []))]
