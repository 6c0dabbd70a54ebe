"""Security Hub findings: one finding per tagged user in the member account's Security Hub
(moto's, read back with GetFindings), imported when what it says changes or to refresh it,
active while someone has to act, archived once the state clears, and archived when the user is
no longer tagged."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from bench.emulated import age_findings
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work, runtime_in_one_account
from tests.faults import Faults

TAG = {"rekey:rotate": "true"}
IAM_STAR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}


def _new_day(org: Org) -> None:
    from moto.iam.models import iam_backends

    for account in org.accounts.values():
        iam_backends[account]["global"].credential_report = None


def findings(org: Org, account: str = "payments") -> dict[str, dict[str, Any]]:
    """rekey's findings in the account's Security Hub, by user name."""
    found = org.client("securityhub", account).get_findings(MaxResults=100)["Findings"]
    return {f["Resources"][0]["Details"]["AwsIamUser"]["UserName"]: f for f in found}


def standing(finding: dict[str, Any]) -> tuple[str, str, str]:
    return finding["ProductFields"]["rekey/state"], finding["Compliance"]["Status"], finding["RecordState"]


def test_findings_are_created_updated_and_archived_across_a_rotation(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "svc", TAG)
    org.create_user("payments", "bad-tags", {**TAG, "rekey:rotate-after-days": "soon"})
    org.create_user("payments", "admin", TAG)
    org.client("iam", "payments").put_user_policy(
        UserName="admin", PolicyName="all-iam", PolicyDocument=json.dumps(IAM_STAR)
    )
    org.create_user("payments", "opted-out", {"rekey:rotate": "false"})
    org.create_user("payments", "untagged", {})

    def day(n: int) -> dict[str, dict[str, Any]]:
        org.age(n)
        _new_day(org)
        assert not sweep(rt, f"age-{n}").failed
        drain_work(rt)
        return findings(org)

    seen = day(85)
    assert set(seen) == {"svc", "bad-tags", "admin", "opted-out"}  # every tagged user, whatever the value
    assert standing(seen["svc"]) == ("compliant", "PASSED", "ARCHIVED")
    assert standing(seen["bad-tags"]) == ("misconfigured", "WARNING", "ACTIVE")
    assert "not a whole number" in seen["bad-tags"]["Description"]
    assert standing(seen["admin"]) == ("refused", "WARNING", "ACTIVE")
    assert seen["admin"]["FindingProviderFields"]["Severity"]["Label"] == "HIGH"
    assert standing(seen["opted-out"]) == ("not-adopted", "PASSED", "ARCHIVED")
    assert seen["svc"]["Resources"][0]["Id"].endswith(":user/svc")
    assert seen["svc"]["AwsAccountId"] == org.accounts["payments"]
    first_update = seen["svc"]["UpdatedAt"]

    # 90 days: rotated today, but the scan saw a 90-day-old active key: failing.
    seen = day(5)
    assert standing(seen["svc"]) == ("compliant", "FAILED", "ACTIVE")
    assert seen["svc"]["Workflow"]["Status"] == "NEW"
    assert seen["svc"]["UpdatedAt"] >= first_update
    # The old key stays active until 100 days (the recipe's defaults): still failing.
    seen = day(5)
    assert standing(seen["svc"]) == ("compliant", "FAILED", "ACTIVE")
    assert "1 active access key(s) 90 days old or older" in seen["svc"]["Title"]
    seen = day(5)  # 100: the old key is deactivated today, after the scan
    assert standing(seen["svc"])[1:] == ("FAILED", "ACTIVE")
    seen = day(1)
    assert standing(seen["svc"]) == ("compliant", "PASSED", "ARCHIVED")
    assert seen["svc"]["Workflow"]["Status"] == "RESOLVED"
    # Opted-out and unmanaged: their key is past 90 now, and that shows.
    assert standing(seen["opted-out"]) == ("not-adopted", "FAILED", "ACTIVE")

    # Untagged: rekey no longer judges the user, and its active finding is archived.
    org.client("iam", "payments").untag_user(UserName="bad-tags", TagKeys=["rekey:rotate"])
    seen = day(1)
    assert seen["bad-tags"]["RecordState"] == "ARCHIVED"
    assert seen["bad-tags"]["ProductFields"]["rekey/state"] == "gone"
    assert standing(seen["admin"]) == ("refused", "FAILED", "ACTIVE")  # its key is 102 days old now
    assert "untagged" not in seen
    text = json.dumps(seen)
    assert "SecretAccessKey" not in text and "SecretKey" not in text


def test_findings_cost_a_read_per_100_users_and_an_import_only_when_one_changes(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.iam.models import iam_backends

    backend = iam_backends[org.accounts["analytics"]]["global"]
    for i in range(250):
        backend.create_user("us-east-1", f"user-{i:03d}", tags=[{"Key": "rekey:rotate", "Value": "true"}])
        backend.create_access_key(f"user-{i:03d}")
    rt = runtime_in_one_account(org, monkeypatch, "analytics", faults)
    asked: list[dict[str, Any]] = []
    faults.watch("securityhub", "GetFindings", asked.append)
    _new_day(org)
    assert not sweep(rt, "first").failed
    assert faults.count("securityhub", "BatchImportFindings") == math.ceil(250 / 100)  # every finding is new

    org.age(1)
    _new_day(org)
    faults.calls.clear()
    assert not sweep(rt, "quiet").failed
    # rekey's findings, active and archived, 100 a page, are what the scan compares with: none changed.
    assert faults.count("securityhub", "BatchImportFindings") == 0
    assert faults.count("securityhub", "GetFindings") == math.ceil(250 / 100)
    assert asked[-1]["Filters"]["GeneratorId"] == [{"Value": "rekey-access-key-rotation", "Comparison": "EQUALS"}]
    assert "RecordState" not in asked[-1]["Filters"] and asked[-1]["MaxResults"] == 100


def test_a_users_finding_is_imported_at_most_twice_a_month_over_its_key_cycles(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 33: 200 days of daily sweeps and work for a user rotated every 90 days. Its finding
    is imported the first day, the day its old key turns 90 (FAILED) and the day after it is
    deactivated (PASSED), and refreshed when REFRESH_DAYS old; never for a key's age alone."""
    from rekey.domain.findings import REFRESH_DAYS

    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "svc", TAG)
    imports: list[int] = []
    today = [0]
    faults.watch("securityhub", "BatchImportFindings", lambda p: imports.extend(today * len(p["Findings"])))
    for n in range(1, 201):
        today[0] = n
        org.age(1)
        age_findings(org.accounts["payments"], 1)  # Security Hub ages with the keys
        _new_day(org)
        assert not sweep(rt, f"d{n}").failed
        drain_work(rt)
    assert {90, 101, 180, 191} <= set(imports)  # the key turns 90; the old one is deactivated
    gaps = [b - a for a, b in itertools.pairwise(imports)]
    assert max(gaps) <= REFRESH_DAYS and len(set(imports)) == len(imports)
    assert len(imports) / (200 / 30) <= 2, imports
    assert standing(findings(org)["svc"]) == ("compliant", "PASSED", "ARCHIVED")


def test_a_finding_archived_by_hand_is_set_right_the_next_day(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever may import into the member account's Security Hub archives rekey's active finding
    of a refused user: the next sweep, which compares what Security Hub holds, imports it again."""
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "admin", TAG)
    org.client("iam", "payments").put_user_policy(
        UserName="admin", PolicyName="all-iam", PolicyDocument=json.dumps(IAM_STAR)
    )
    assert not sweep(rt, "d1").failed
    hub = org.client("securityhub", "payments")
    hidden = {**findings(org)["admin"], "RecordState": "ARCHIVED"}
    hub.batch_import_findings(Findings=[hidden])
    assert findings(org)["admin"]["RecordState"] == "ARCHIVED"
    org.age(1)
    faults.calls.clear()
    assert not sweep(rt, "d2").failed
    assert faults.count("securityhub", "BatchImportFindings") == 1
    assert standing(findings(org)["admin"]) == ("refused", "WARNING", "ACTIVE")


@pytest.mark.parametrize("code", ["InvalidAccessException", "AccessDeniedException"])
def test_without_security_hub_the_keys_are_rotated_and_the_failure_announced_once(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    """Security Hub not enabled in the account (InvalidAccessException), or a spoke role from
    before the findings (AccessDenied): one warning for the account, and the work goes on."""
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "svc", TAG)
    org.age(91)
    faults.fail("securityhub", "BatchImportFindings", code=code, status=400, times=0)
    result = sweep(rt, "no-hub")
    assert not result.failed
    drain_work(rt)
    assert len(org.keys("payments", "svc")) == 2
    (warning,) = org.events("findings-failed")
    assert warning["severity"] == "warning" and code in warning["message"]


def test_findings_can_be_turned_off(org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REKEY_SECURITY_HUB_FINDINGS", "false")
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.create_user("payments", "svc", TAG)
    assert not sweep(rt, "off").failed
    assert faults.count("securityhub") == 0 and findings(org) == {}
