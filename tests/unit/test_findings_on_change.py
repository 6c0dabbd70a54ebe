"""A user's Security Hub finding is imported when what it says changes, or to keep Security Hub
from deleting it (findings.to_import): not every sweep (issue 33)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rekey.domain.entities import ReportKey
from rekey.domain.findings import REFRESH_DAYS, KeyState, UserFinding, asff, stale, to_import

DAY0 = datetime(2026, 3, 1, 6, tzinfo=UTC)
ARN = "arn:aws:iam::111122223333:user/svc"
CREATED = DAY0 - timedelta(days=30)  # the user's key


def finding(day: int, state: KeyState = KeyState.COMPLIANT, *, created: datetime = CREATED) -> dict[str, Any]:
    now = DAY0 + timedelta(days=day)
    user = UserFinding(ARN, "svc", state, "in rekey's care", [ReportKey(True, created)])
    return asff(user, "111122223333", "eu-west-1", "aws", now)


def imported(day: int, stored: dict[str, Any] | None, **kw: Any) -> dict[str, Any] | None:
    return to_import(finding(day, **kw), stored, DAY0 + timedelta(days=day))


def test_a_finding_that_says_the_same_is_not_imported_again_until_it_needs_refreshing() -> None:
    first = imported(0, None)
    assert first is not None  # none in Security Hub yet
    # The key ages every day, the finding does not say so: nothing to import.
    assert [d for d in range(1, REFRESH_DAYS) if imported(d, first)] == []
    again = imported(REFRESH_DAYS, first)
    assert again is not None and again["UpdatedAt"] > first["UpdatedAt"]
    assert again["CreatedAt"] == first["CreatedAt"]  # the same finding, refreshed
    assert REFRESH_DAYS < 30  # Security Hub deletes an archived finding not updated for 30 days


def test_a_finding_is_imported_the_day_its_key_turns_90_and_the_day_its_user_needs_someone() -> None:
    stored = imported(0, None)
    assert stored is not None
    turned = imported(60, stored)  # the key, 30 days old on day 0, is 90 today
    assert turned is not None and turned["Compliance"]["Status"] == "FAILED" and turned["RecordState"] == "ACTIVE"
    assert turned["Description"].endswith("Active keys 90 days old or older: key 1.")
    assert imported(1, stored, state=KeyState.BLOCKED) is not None


def test_a_finding_archived_or_edited_by_hand_is_set_right_but_an_analysts_workflow_is_kept() -> None:
    stored = imported(0, None, created=DAY0 - timedelta(days=95))
    assert stored is not None and stored["RecordState"] == "ACTIVE"
    assert imported(1, {**stored, "RecordState": "ARCHIVED"}, created=DAY0 - timedelta(days=95)) is not None
    edited = {**stored, "Description": "nothing to see"}
    assert imported(1, edited, created=DAY0 - timedelta(days=95)) is not None
    # What Security Hub's users manage is theirs: a suppressed workflow, a note.
    triaged = {**stored, "Workflow": {"Status": "SUPPRESSED"}, "Note": {"Text": "known"}}
    assert imported(1, triaged, created=DAY0 - timedelta(days=95)) is None
    # A stored finding without a readable UpdatedAt is refreshed.
    assert imported(1, {**stored, "UpdatedAt": "yesterday"}, created=DAY0 - timedelta(days=95)) is not None


def test_only_active_findings_of_untagged_users_are_stale() -> None:
    active, archived = finding(0, KeyState.REFUSED), finding(0)
    assert archived["RecordState"] == "ARCHIVED"
    assert stale([active, archived], set()) == [active]
    assert stale([active], {ARN}) == []
