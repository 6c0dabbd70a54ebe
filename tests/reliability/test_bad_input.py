"""Poison and forged messages, and the odd users real accounts have.

Poison or forged work items are never acted upon; each is announced, then acknowledged or
dead-lettered, while the other messages of the same batch go through. Odd but valid users
(every character IAM allows, 64 characters, paths, tag values in any case, 0, 1 or 2 keys,
keys never used) go through their whole lifecycle with the invariants holding."""

from __future__ import annotations

import json

from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.use_cases.sweep import sweep
from rekey.use_cases.work import run_work_item
from tests.conftest import Org, drain_work
from tests.faults import Faults
from tests.invariants import SafetyChecker
from tests.reliability import summary

TAG = {"rekey:rotate": "true"}
KEY_WRITES = ("CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey")
UNKNOWN_ACCOUNT = "999999999999"  # in no organization rekey knows: no spoke role to assume


def send(org: Org, body: str, group: str) -> None:
    org.emulator.client("sqs").send_message(
        QueueUrl=org.hub.work_queue_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=group
    )


def work(org: Org, account: str, user: str, action: str, key_id: str | None) -> WorkItem:
    return WorkItem(
        account_id=org.accounts.get(account, account), user_name=user, key_id=key_id, action=action, sweep_id="forged"
    )


def test_poison_and_forged_items_are_never_acted_upon_and_the_batch_goes_on(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (human,) = org.create_user("payments", "human")  # not opted in
    (mine,) = org.create_user("payments", "svc-a", TAG)
    theirs_old, _theirs = org.create_user("payments", "svc-b", TAG, keys=2)
    org.client("iam", "payments").update_access_key(UserName="svc-b", AccessKeyId=theirs_old, Status="Inactive")
    (due,) = org.create_user("payments", "svc-due", TAG)
    (c_old,) = org.create_user("analytics", "svc-c", TAG)
    org.age(91)
    assert run_work_item(faulty_runtime, work(org, "analytics", "svc-c", "rotate", c_old)).status == "done"
    (c_current,) = set(org.keys("analytics", "svc-c")) - {c_old}
    org.age(200)
    before = {
        (a, u): org.keys(a, u)
        for a, u in [("payments", "human"), ("payments", "svc-a"), ("payments", "svc-b"), ("analytics", "svc-c")]
    }
    faults.fail(
        "sts", "AssumeRole", code="AccessDenied", status=403, times=0, match=lambda p: UNKNOWN_ACCOUNT in p["RoleArn"]
    )
    faults.calls.clear()

    poison = {
        "not json": "{not json",
        "unknown schema": json.dumps(
            {**json.loads(work(org, "payments", "svc-a", "delete", mine).model_dump_json()), "schema_version": 9}
        ),
    }
    forged = {
        "unknown account": work(org, UNKNOWN_ACCOUNT, "svc", "rotate", "AKIAAAAAAAAAAAAAAAAA"),
        "untagged user": work(org, "payments", "human", "delete", human),
        "another user's key": work(org, "payments", "svc-a", "delete", theirs_old),
        "current key as an orphan": work(org, "analytics", "svc-c", "delete-orphan", c_current),
        "current key deactivated": work(org, "analytics", "svc-c", "deactivate", c_current),
        "finish a rotation never begun": work(org, "analytics", "svc-c", "finish-rotation", c_old),
    }
    good = work(org, "payments", "svc-due", "rotate", due)
    for name, body in poison.items():
        send(org, body, name.replace(" ", "-"))
    for name, item in forged.items():
        send(org, item.model_dump_json(), name.replace(" ", "-").replace("'", ""))
    send(org, good.model_dump_json(), good.group_id(4))

    _, outcomes = drain_work(faulty_runtime, retry_failed_now=True)

    by_user = {(o.item.account_id, o.item.user_name, o.item.action.value): o.status for o in outcomes}
    assert by_user.pop((org.accounts["payments"], "svc-due", "rotate")) == "done"
    assert set(by_user.values()) <= {"noop", "rejected"}, by_user
    assert len(org.keys("payments", "svc-due")) == 2
    assert {k: org.keys(*k) for k in before} == before  # nobody else was touched
    assert faults.count("iam", "CreateAccessKey") == 1  # the good item's, and no other key write
    assert faults.count("iam", "UpdateAccessKey") == faults.count("iam", "DeleteAccessKey") == 0
    assert org.queue_depth(org.hub.work_queue_url) == 0
    dead = org.emulator.client("sqs").receive_message(QueueUrl=org.hub.work_dlq_url, MaxNumberOfMessages=10)
    dead_bodies = sorted(m["Body"] for m in dead.get("Messages", []))
    assert dead_bodies == sorted(poison.values())
    assert faults.count("sts", "AssumeRole") == 1  # the good item's: the unknown account is never entered
    # Announced: the poison once each, the item for an account outside the organization, the
    # untagged user and the key of another user (a forged or misrouted item, not merely a stale one).
    rejected = org.events("rejected")
    assert sum("malformed work item" in r["message"] for r in rejected) == 2
    assert any(r.get("user_name") == "human" for r in rejected)
    assert any(r.get("user_name") == "svc-a" and theirs_old in r["message"] for r in rejected)
    assert any(r["account_id"] == UNKNOWN_ACCOUNT and "not an ACTIVE account" in r["message"] for r in rejected)
    assert org.events("failed") == []
    summary.record_cases("poison and forged messages", len(poison) + len(forged))


ODD_NAME = ("svc+=,.@_-" + "x" * 64)[:64]


def test_odd_users_go_through_their_lifecycle_safely(org: Org, runtime: Runtime) -> None:
    iam = org.client("iam", "payments")
    in_scope: dict[str, SafetyChecker] = {}

    def user(name: str, tags: dict[str, str], keys: int = 1, **kw: object) -> list[str]:
        created = org.create_user("payments", name, tags, keys=keys, **kw)
        if tags.get("rekey:rotate", "").lower() == "true" and keys:
            in_scope[name] = SafetyChecker(org, org.accounts["payments"], name, set(created))
        return created

    user(ODD_NAME, TAG)
    user("svc-in-a-path", TAG, Path="/team/app/")
    user("svc-upper", {"rekey:rotate": "TRUE"})
    user("svc-title", {"rekey:rotate": "True", "rekey:owner": " team with spaces "})
    padded = user("svc-padded", {"rekey:rotate": " true"})  # not what the spoke role accepts
    user("svc-no-keys", TAG, keys=0)
    both = user("svc-two-active", TAG, keys=2)
    assert iam.get_user(UserName="svc-in-a-path")["User"]["Path"] == "/team/app/"
    assert len(ODD_NAME) == 64

    for day, age in ((91, 91), (101, 10), (111, 10)):
        org.age(age)
        result = sweep(runtime, f"day-{day}")
        drained, _ = drain_work(runtime)
        assert not result.failed and drained.failed == 0, day
        for name, checker in in_scope.items():
            assert checker.violations() == [], (day, name)

    for name, checker in in_scope.items():
        keys = org.keys("payments", name)
        assert checker.unsettled() == [], name
        if name == "svc-two-active":
            # Blocked while both were due; once the older could be retired (the newer one had
            # existed for the overlap), it was, and the newer one was rotated.
            older, newer = both
            assert older not in keys and keys.get(newer) == "Active" and checker.current_key() in keys
        else:
            assert len(keys) == 1 and checker.current_key() in keys, name  # rotated, old key retired
    assert org.keys("payments", "svc-padded") == {padded[0]: "Active"}
    assert org.keys("payments", "svc-no-keys") == {}
    misconfigured = {e["user_name"] for e in org.events("misconfigured")}
    assert misconfigured == {"svc-padded"}
    assert {e["user_name"] for e in org.events("blocked")} == {"svc-two-active"}
    owners = {e["owner"] for e in org.events("rotated") if e["user_name"] == "svc-title"}
    assert owners == {"team with spaces"}
    summary.record_cases("odd users through a lifecycle", len(in_scope) + 2)
