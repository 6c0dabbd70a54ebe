"""Calls that AWS carried out but whose answer never arrived: botocore retries them, so the
retry meets the effect of the first attempt. Each must still end safely, and quietly when
nothing actually failed. (The fault matrix covers every write this way; these are the cases
that once went wrong, kept small and named.)"""

from __future__ import annotations

import pytest

from rekey.domain.errors import RekeyError
from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.use_cases.sweep import sweep
from rekey.use_cases.work import run_work_item
from tests.conftest import Org, drain_work
from tests.faults import Faults
from tests.invariants import SafetyChecker, assert_secret_matches_an_active_key, secret_versions

TAG = {"rekey:rotate": "true"}


def rotate(org: Org, rt: Runtime, key_id: str, action: str = "rotate") -> str:
    item = WorkItem(account_id=org.accounts["payments"], user_name="svc", key_id=key_id, action=action, sweep_id="t")
    return run_work_item(rt, item).status


def test_a_lost_answer_to_the_first_put_secret_value_still_leaves_the_key_current(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    rule = faults.timeout("secretsmanager", "PutSecretValue", applied=True)
    assert rotate(org, faulty_runtime, old) == "done"
    assert rule.fired == 1 and faults.sends[("secretsmanager", "PutSecretValue")] == 2
    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    assert secret_versions(org, "payments", "rekey/svc") == {f"rekey-access-key-{new}": ["AWSCURRENT"]}


def test_a_lost_answer_to_create_access_key_is_no_failure_and_the_orphan_goes_the_next_day(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    faults.timeout("iam", "CreateAccessKey", applied=True)
    # The retry meets the key the first attempt made: LimitExceeded, which is not a failure.
    assert rotate(org, faulty_runtime, old) == "noop"
    (orphan,) = set(org.keys("payments", "svc")) - {old}
    checker = SafetyChecker(org, org.accounts["payments"], "svc", {old})
    assert checker.violations() == []  # the intent covers the orphan: nobody can use it

    faults.clear()
    org.age(1)
    sweep(faulty_runtime, "next-day")
    result, _ = drain_work(faulty_runtime)
    assert result.failed == 0
    keys = org.keys("payments", "svc")
    assert orphan not in keys and len(keys) == 2
    assert checker.violations() == [] and checker.unsettled() == []
    assert org.events("failed") == []


def test_a_lost_answer_to_delete_access_key_is_no_failure(org: Org, faulty_runtime: Runtime, faults: Faults) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    assert rotate(org, faulty_runtime, old) == "done"
    org.age(10)
    assert rotate(org, faulty_runtime, old, "deactivate") == "done"
    org.age(10)
    faults.timeout("iam", "DeleteAccessKey", applied=True)
    try:
        status = rotate(org, faulty_runtime, old, "delete")
    except RekeyError as exc:  # NoSuchEntity on the retry, for a key this very call deleted
        pytest.fail(f"a deletion that happened was reported as a failure: {exc}")
    assert status == "done" and old not in org.keys("payments", "svc")
    assert [e["key_id"] for e in org.events("deleted")] == [old]
