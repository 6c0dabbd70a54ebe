"""Security Hub findings (ASFF): one per tagged user, saying where its keys stand.

A finding is imported when what it says changes, and refreshed every REFRESH_DAYS otherwise
(to_import): Security Hub deletes an archived finding not updated for 30 days, an active one
after 90. What it says is the user's standing, the 90-day controls' verdict and the keys that
fail them, never a figure that moves every day (a key's age): so a managed user's finding
changes twice a rotation cycle, when its old key turns 90 and when it is deactivated. A
finding whose 90-day controls pass and that needs nobody is archived (RecordState ARCHIVED,
compliance PASSED; Security Hub then resolves its workflow), so the default view, active
findings, holds exactly the users that need someone: a key 90 days old or older (FAILED), or a
user rekey cannot keep compliant (WARNING). A finding whose user is no longer tagged, or gone,
is archived by the account's sweep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .controls import CONTROL_TITLES, MAX_KEY_AGE_DAYS, Control, too_old
from .entities import ReportKey

GENERATOR_ID = "rekey-access-key-rotation"
# Security Hub's limits: 100 findings a BatchImportFindings call; Title 256, Description 1024.
FINDINGS_PER_CALL = 100
# Security Hub deletes an archived finding not updated for 30 days (an active one: 90), by its
# UpdatedAt (docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings.html): an
# unchanged finding is imported again once this old, 5 days (missed sweeps) before that.
REFRESH_DAYS = 25
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 1024
TYPES = [
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    "Software and Configuration Checks/AWS Security Best Practices",
]


class KeyState(StrEnum):
    # In rekey's care: rotated on schedule (a day's action is announced on the topic; a finding
    # imported for it would be stale by the next sweep).
    COMPLIANT = "compliant"
    BLOCKED = "blocked"  # rekey cannot go on (a broken or foreign secret, a full key slot...)
    MISCONFIGURED = "misconfigured"  # the user's rekey tags are invalid: untouched
    REFUSED = "refused"  # privileged, or outside the allowed path or boundary: never touched
    NOT_ADOPTED = "not-adopted"  # tagged but not rotated by rekey: opted out, or exempt
    # Under `adopt`: an old key stays active past its deactivation age because its replacement's
    # pickup is unconfirmed (a destination does not hold it, or no consumer has signed with it).
    PICKUP_UNCONFIRMED = "pickup-unconfirmed"


# States in which rekey cannot keep the user's keys compliant: someone has to act.
NEEDS_SOMEONE = frozenset({KeyState.BLOCKED, KeyState.MISCONFIGURED, KeyState.REFUSED, KeyState.PICKUP_UNCONFIRMED})
_SEVERITY = {
    KeyState.REFUSED: "HIGH",
    KeyState.BLOCKED: "MEDIUM",
    KeyState.MISCONFIGURED: "MEDIUM",
    KeyState.PICKUP_UNCONFIRMED: "MEDIUM",
}


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


def pickup_unconfirmed(waiting: str, destinations: Sequence[str]) -> tuple[KeyState, str]:
    """The standing of a user whose old key waits, under `adopt`, for proof that its replacement
    was picked up (`waiting`: why, and until when), with what would end the wait."""
    if destinations:
        todo = (
            f"make {', '.join(destinations)} hold the new key (rekey report shows each destination's status; "
            "a delivery-failed announcement says what to fix) and move their consumers to it"
        )
    else:
        todo = "move the key's consumers to the new key (they read it from the user's secret)"
    return KeyState.PICKUP_UNCONFIRMED, f"{waiting}; to retire it sooner, {todo}"


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
    failing = ", ".join(f"key {k.slot}" for k in old)
    headline = (
        f"{len(old)} active access key(s) {MAX_KEY_AGE_DAYS} days old or older"
        if old
        else f"no active access key {MAX_KEY_AGE_DAYS} days old or older"
    )
    return {
        **asff_head(finding_id(finding.user_arn), GENERATOR_ID, TYPES, label, account_id, region, partition, now),
        "Title": f"rekey: IAM user {finding.user_name} is {finding.state.value}: {headline}"[:TITLE_LIMIT],
        "Description": f"{finding.reason}. Active keys {MAX_KEY_AGE_DAYS} days old or older: {failing or 'none'}."[
            :DESCRIPTION_LIMIT
        ],
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


def stale(stored: Sequence[dict[str, Any]], tagged_arns: set[str]) -> list[dict[str, Any]]:
    """Of rekey's findings in an account, the active ones whose user is not tagged today."""
    return [
        f
        for f in stored
        if f.get("RecordState") == "ACTIVE" and not any(r.get("Id") in tagged_arns for r in f.get("Resources", []))
    ]


def to_import(today: dict[str, Any], stored: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """`today`'s finding (asff) if Security Hub's copy (`stored`, as GetFindings returns it; None:
    there is none) says something else, or was last updated REFRESH_DAYS ago or more; else None.
    What is compared is what rekey says (its title, description, compliance, record state,
    severity and ProductFields), never what Security Hub's users manage (workflow, notes): a
    finding archived or edited by hand is set right the next day, one suppressed stays so."""
    if stored is None:
        return today
    updated = _when(stored.get("UpdatedAt"))
    if _said(stored) == _said(today) and updated is not None and (now - updated).days < REFRESH_DAYS:
        return None
    return {**today, "CreatedAt": stored.get("CreatedAt") or today["CreatedAt"]}


def _said(finding: dict[str, Any]) -> tuple[Any, ...]:
    fields = finding.get("ProductFields") or {}
    return (
        finding.get("Title"),
        finding.get("Description"),
        (finding.get("Compliance") or {}).get("Status"),
        finding.get("RecordState"),
        ((finding.get("FindingProviderFields") or {}).get("Severity") or {}).get("Label"),
        fields.get("rekey/state"),
        fields.get("rekey/reason"),
    )


def _when(stamp: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
