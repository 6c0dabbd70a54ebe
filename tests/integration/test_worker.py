"""The worker on the emulator: it re-checks, re-reads and re-decides, and never loses a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rekey.messages import WorkItem
from rekey.runtime import Runtime
from rekey.use_cases.sweep import sweep
from rekey.use_cases.work import run_work_item
from tests.conftest import Org, drain_work
from tests.faults import Faults, SimulatedCrash
from tests.invariants import assert_secret_matches_an_active_key, current_secret, secret_versions

TAG = {"rekey:rotate": "true"}


def item(org: Org, account: str, user: str, action: str, key_id: str | None, sweep_id: str = "t") -> WorkItem:
    return WorkItem(account_id=org.accounts[account], user_name=user, key_id=key_id, action=action, sweep_id=sweep_id)


def test_rotation_stores_the_new_key_and_announces_it(org: Org, runtime: Runtime) -> None:
    (old,) = org.create_user("payments", "svc", {**TAG, "rekey:owner": "team-payments"})
    org.age(91)
    outcome = run_work_item(runtime, item(org, "payments", "svc", "rotate", old))
    assert outcome.status == "done"
    keys = org.keys("payments", "svc")
    assert keys[old] == "Active" and len(keys) == 2
    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    assert new != old
    versions = secret_versions(org, "payments", "rekey/svc")
    assert versions == {f"rekey-access-key-{new}": ["AWSCURRENT"]}
    (event,) = org.events("rotated")
    assert event["owner"] == "team-payments" and event["new_key_id"] == new and event["key_id"] == old
    policy = json.loads(
        org.client("secretsmanager", "payments").get_resource_policy(SecretId="rekey/svc")["ResourcePolicy"]
    )
    allow = policy["Statement"][0]
    assert allow["Principal"]["AWS"].endswith(":user/svc")
    assert policy["Statement"][1]["Effect"] == "Deny"


def _one_cycle_then_due_again(org: Org, runtime: Runtime) -> str:
    """svc rotated once, its old key deactivated and deleted, its current key due again: that key."""
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_work_item(runtime, item(org, "payments", "svc", "rotate", k1))
    k2 = assert_secret_matches_an_active_key(org, "payments", "svc")
    org.age(30)
    run_work_item(runtime, item(org, "payments", "svc", "deactivate", k1))
    org.age(10)
    run_work_item(runtime, item(org, "payments", "svc", "delete", k1))
    org.age(60)
    return k2


def test_second_rotation_keeps_the_previous_version(org: Org, runtime: Runtime) -> None:
    k2 = _one_cycle_then_due_again(org, runtime)
    run_work_item(runtime, item(org, "payments", "svc", "rotate", k2))
    k3 = assert_secret_matches_an_active_key(org, "payments", "svc")
    versions = secret_versions(org, "payments", "rekey/svc")
    # AWSPENDING stays with the version it made current (one call less; it means nothing there).
    assert sorted(versions[f"rekey-access-key-{k3}"]) == ["AWSCURRENT", "AWSPENDING"]
    assert versions[f"rekey-access-key-{k2}"] == ["AWSPREVIOUS"]


def _secret_policy(org: Org) -> dict[str, Any] | None:
    text = org.client("secretsmanager", "payments").get_resource_policy(SecretId="rekey/svc").get("ResourcePolicy")
    return json.loads(text) if text else None


def test_a_policy_that_could_not_be_put_is_put_by_the_next_attempt(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    """The policy's digest is recorded with the intent, before the policy is put: a rotation
    that fails in between leaves a digest naming a policy the secret does not have. The next
    attempt must not trust it."""
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    faults.fail("secretsmanager", "PutResourcePolicy", code="InternalServiceError", status=500, times=0)
    with pytest.raises(Exception, match="PutResourcePolicy"):
        run_work_item(faulty_runtime, item(org, "payments", "svc", "rotate", old, "d1"))
    assert _secret_policy(org) is None and org.keys("payments", "svc") == {old: "Active"}

    faults.clear()
    org.age(1)
    sweep(faulty_runtime, "d2")
    drain_work(faulty_runtime)

    assert assert_secret_matches_an_active_key(org, "payments", "svc") != old
    policy = _secret_policy(org)
    assert policy is not None and policy["Statement"][0]["Principal"]["AWS"].endswith(":user/svc")


def test_a_routine_rotation_puts_the_policy_again_once_it_changed(
    org: Org, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    k2 = _one_cycle_then_due_again(org, runtime)
    role = f"arn:aws:iam::{org.accounts['analytics']}:role/break-glass"
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"break_glass_role_arn": role}))

    run_work_item(runtime, item(org, "payments", "svc", "rotate", k2))

    policy = _secret_policy(org)
    assert policy is not None and policy["Statement"][-1]["Principal"]["AWS"] == role


def test_duplicate_delivery_is_a_no_op(org: Org, runtime: Runtime) -> None:
    (old,) = org.create_user("analytics", "svc", TAG)
    org.age(91)
    work = item(org, "analytics", "svc", "rotate", old)
    assert run_work_item(runtime, work).status == "done"
    before = (org.keys("analytics", "svc"), secret_versions(org, "analytics", "rekey/svc"))
    again = run_work_item(runtime, work)
    assert again.status == "noop"
    assert (org.keys("analytics", "svc"), secret_versions(org, "analytics", "rekey/svc")) == before
    assert len(org.events("rotated")) == 1


def test_a_duplicate_message_on_the_queue_rotates_once(org: Org, runtime: Runtime) -> None:
    org.create_user("analytics", "svc", TAG)
    org.age(91)
    sweep(runtime, "day-91")
    sweep(runtime, "day-91-rerun")  # a second sweep the same day queues the same action again
    result, outcomes = drain_work(runtime)
    assert result.failed == 0
    assert sorted(o.status for o in outcomes) == ["done", "noop"]
    assert len(org.keys("analytics", "svc")) == 2


def test_an_item_for_an_untagged_user_is_rejected_and_nothing_is_touched(org: Org, runtime: Runtime) -> None:
    (key,) = org.create_user("sandbox", "human")
    org.age(200)
    outcome = run_work_item(runtime, item(org, "sandbox", "human", "delete", key))
    assert outcome.status == "rejected"
    assert org.keys("sandbox", "human") == {key: "Active"}
    (event,) = org.events("rejected")
    assert event["user_name"] == "human" and "not opted in" in event["message"]


def test_an_item_naming_another_users_key_is_rejected(org: Org, runtime: Runtime) -> None:
    (mine,) = org.create_user("sandbox", "svc-a", TAG)
    (theirs,) = org.create_user("sandbox", "svc-b", TAG)
    org.client("iam", "sandbox").update_access_key(UserName="svc-b", AccessKeyId=theirs, Status="Inactive")
    org.age(200)
    outcome = run_work_item(runtime, item(org, "sandbox", "svc-a", "delete", theirs))
    assert outcome.status == "rejected"  # forged or misrouted: announced (tests/reliability/test_bad_input.py)
    assert org.keys("sandbox", "svc-b") == {theirs: "Inactive"}
    assert org.keys("sandbox", "svc-a") == {mine: "Active"}


def test_a_stale_item_is_acknowledged_without_acting(org: Org, runtime: Runtime) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(50)  # queued long ago, the key is not due any more (e.g. a human rotated it)
    assert run_work_item(runtime, item(org, "payments", "svc", "rotate", old)).status == "noop"
    assert org.keys("payments", "svc") == {old: "Active"}


def test_an_item_arriving_before_its_prerequisite_makes_room_first(org: Org, runtime: Runtime) -> None:
    old, newer = org.create_user("payments", "svc", TAG, keys=2)
    org.client("iam", "payments").update_access_key(UserName="svc", AccessKeyId=old, Status="Inactive")
    org.age(95)
    outcome = run_work_item(runtime, item(org, "payments", "svc", "rotate", newer))
    assert outcome.status == "done" and [a.kind.value for a in outcome.performed] == ["delete", "rotate"]
    assert old not in org.keys("payments", "svc") and len(org.keys("payments", "svc")) == 2
    assert_secret_matches_an_active_key(org, "payments", "svc")


def test_malformed_messages_are_rejected_dead_lettered_and_the_batch_goes_on(org: Org, runtime: Runtime) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    sqs = org.emulator.client("sqs")
    url = org.hub.work_queue_url
    sqs.send_message(QueueUrl=url, MessageBody="not json", MessageGroupId="junk", MessageDeduplicationId="1")
    forged = {"schema_version": 9, "account_id": org.accounts["payments"], "user_name": "svc", "action": "delete"}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(forged), MessageGroupId="junk2", MessageDeduplicationId="2")
    good = item(org, "payments", "svc", "rotate", old)
    sqs.send_message(QueueUrl=url, MessageBody=good.model_dump_json(), MessageGroupId=good.group_id(4),
                     MessageDeduplicationId=good.deduplication_id)  # fmt: skip

    _, outcomes = drain_work(runtime, retry_failed_now=True)

    assert [o.status for o in outcomes] == ["done"]
    assert len(org.keys("payments", "svc")) == 2
    assert org.queue_depth(url) == 0
    dead = sqs.receive_message(QueueUrl=org.hub.work_dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead) == sorted(["not json", json.dumps(forged)])
    rejected = org.events("rejected")
    assert len(rejected) == 2  # once per message, not once per delivery
    assert all("never acted upon" in r["message"] for r in rejected)


def test_failing_to_store_the_secret_deletes_the_new_key_at_once(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    faults.fail("secretsmanager", "PutSecretValue", code="InternalServiceError", status=500, times=0)
    sweep(faulty_runtime, "d1")
    result, _ = drain_work(faulty_runtime)
    assert result.failed == 1
    assert org.keys("payments", "svc") == {old: "Active"}  # the unstored key is gone
    (failed,) = org.events("failed")
    assert "PutSecretValue" in failed["message"] and failed["severity"] == "error"

    faults.clear()
    org.age(1)  # the next day: an interrupted rotation is settled once it cannot be in flight
    sweep(faulty_runtime, "d2")
    org.emulator.client("sqs").purge_queue(QueueUrl=org.hub.work_queue_url)  # the failed item's group
    sweep(faulty_runtime, "d3")
    drain_work(faulty_runtime)
    assert len(org.keys("payments", "svc")) == 2
    assert_secret_matches_an_active_key(org, "payments", "svc")


def test_a_crash_after_creating_the_key_leaves_an_orphan_the_next_run_removes(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (old,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    faults.crash_after("iam", "CreateAccessKey")
    with pytest.raises(SimulatedCrash):
        run_work_item(faulty_runtime, item(org, "payments", "svc", "rotate", old, "d1"))
    (orphan,) = set(org.keys("payments", "svc")) - {old}

    org.age(1)
    sweep(faulty_runtime, "d2")
    drain_work(faulty_runtime)

    keys = org.keys("payments", "svc")
    assert orphan not in keys and old in keys and len(keys) == 2
    new = assert_secret_matches_an_active_key(org, "payments", "svc")
    assert new not in (old, orphan)
    deleted = org.events("deleted")
    assert [d["key_id"] for d in deleted] == [orphan]
    tags = org.client("secretsmanager", "payments").describe_secret(SecretId="rekey/svc").get("Tags", [])
    assert not [t for t in tags if t["Key"].startswith("rekey:rotation")]


def test_a_crash_after_staging_is_finished_with_the_staged_key(
    org: Org, faulty_runtime: Runtime, faults: Faults
) -> None:
    (k1,) = org.create_user("payments", "svc", TAG)
    org.age(91)
    run_work_item(faulty_runtime, item(org, "payments", "svc", "rotate", k1, "d1"))  # first rotation: k2
    k2 = assert_secret_matches_an_active_key(org, "payments", "svc")
    org.age(20)
    run_work_item(faulty_runtime, item(org, "payments", "svc", "deactivate", k1, "d2"))
    org.age(75)
    run_work_item(faulty_runtime, item(org, "payments", "svc", "delete", k1, "d3"))

    faults.crash_after("secretsmanager", "PutSecretValue")
    with pytest.raises(SimulatedCrash):
        run_work_item(faulty_runtime, item(org, "payments", "svc", "rotate", k2, "d4"))
    (k3,) = set(org.keys("payments", "svc")) - {k2}
    assert current_secret(org, "payments", "rekey/svc")["AccessKey"] == k2  # staged, not yet current

    org.age(1)  # the next day: an interrupted rotation is settled once it cannot be in flight
    sweep(faulty_runtime, "d5")
    drain_work(faulty_runtime)
    assert assert_secret_matches_an_active_key(org, "payments", "svc") == k3
    assert set(org.keys("payments", "svc")) == {k2, k3}


def test_users_whose_sanitised_secret_names_collide_do_not_share_a_secret(org: Org, runtime: Runtime) -> None:
    (a,) = org.create_user("payments", "a,b", TAG)
    (b,) = org.create_user("payments", "a_b", TAG)
    org.age(91)
    assert run_work_item(runtime, item(org, "payments", "a,b", "rotate", a)).status == "done"
    assert run_work_item(runtime, item(org, "payments", "a_b", "rotate", b)).status == "rejected"
    assert org.keys("payments", "a_b") == {b: "Active"}
    (blocked,) = org.events("blocked")
    assert blocked["user_name"] == "a_b" and "belongs to another user" in blocked["message"]


def test_a_secret_rekey_did_not_create_is_never_adopted(org: Org, runtime: Runtime) -> None:
    """Attack: someone creates `rekey/<user>` with unrelated content before rekey does. Today's
    rekey adopted it and overwrote it; now it is left as it is and the user is announced."""
    (old,) = org.create_user("analytics", "app", TAG)
    sm = org.client("secretsmanager", "analytics")
    sm.create_secret(Name="rekey/app", SecretString='{"db_password": "unrelated"}')
    org.age(91)
    outcome = run_work_item(runtime, item(org, "analytics", "app", "rotate", old))
    assert outcome.status == "rejected"
    assert org.keys("analytics", "app") == {old: "Active"}
    assert sm.get_secret_value(SecretId="rekey/app")["SecretString"] == '{"db_password": "unrelated"}'
    assert sm.describe_secret(SecretId="rekey/app").get("Tags", []) == []
    (conflict,) = org.events("conflict")
    assert conflict["severity"] == "error" and "rekey did not create it" in conflict["message"]


def test_a_secret_in_the_classic_recipes_format_is_taken_over_once_handed_over(org: Org, runtime: Runtime) -> None:
    (old,) = org.create_user("analytics", "legacy", TAG)
    sm = org.client("secretsmanager", "analytics")
    sm.create_secret(Name="rekey/legacy", SecretString=json.dumps({"AccessKey": old, "SecretKey": "x" * 40}))
    org.age(91)
    assert run_work_item(runtime, item(org, "analytics", "legacy", "rotate", old)).status == "rejected"
    # The operator hands it over, as docs/security.md says: the secret's rekey:user-id tag.
    user_id = org.client("iam", "analytics").get_user(UserName="legacy")["User"]["UserId"]
    sm.tag_resource(SecretId="rekey/legacy", Tags=[{"Key": "rekey:user-id", "Value": user_id}])
    assert run_work_item(runtime, item(org, "analytics", "legacy", "rotate", old)).status == "done"
    new = assert_secret_matches_an_active_key(org, "analytics", "legacy")
    previous = json.loads(sm.get_secret_value(SecretId="rekey/legacy", VersionStage="AWSPREVIOUS")["SecretString"])
    assert previous["AccessKey"] == old and new != old


def test_the_adopt_policy_waits_for_a_consumer_to_use_the_new_key(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    """REKEY_IN_USE_POLICY=adopt: the old key stays active while nobody but rekey's own
    verification has used its replacement, warned about daily; a consumer's first use lets the
    deactivation go ahead; a replacement nobody adopts is deactivated at the deadline."""
    import boto3
    from rekey_dev import emulator as em

    from tests.operators import run_day, runtime_from_env

    monkeypatch.setenv("REKEY_IN_USE_POLICY", "adopt")
    (follows,) = org.create_user("payments", "follows", TAG)
    (ignores,) = org.create_user("payments", "ignores", TAG)
    rt = runtime_from_env()
    org.age(91)
    run_day(rt)
    new_keys = {user: current_secret(org, "payments", f"rekey/{user}") for user in ("follows", "ignores")}
    org.age(10)  # day 101: both due, neither replacement used by anyone but rekey
    run_day(rt)
    assert org.keys("payments", "follows")[follows] == "Active" and org.keys("payments", "ignores")[ignores] == "Active"
    warned = {n["user_name"]: n for n in org.events("not-adopted")}
    assert set(warned) == {"follows", "ignores"} and "never been used by a consumer" in warned["follows"]["message"]

    new = new_keys["follows"]
    boto3.client(
        "iam",
        region_name=em.REGION,
        endpoint_url=org.emulator.url,
        aws_access_key_id=new["AccessKey"],
        aws_secret_access_key=new["SecretKey"],
    ).get_user(UserName="follows")  # the consumer moved
    org.age(1)
    run_day(rt)
    assert org.keys("payments", "follows")[follows] == "Inactive"
    assert org.keys("payments", "ignores")[ignores] == "Active"
    org.age(7)  # day 109: the deadline
    run_day(rt)
    assert org.keys("payments", "ignores")[ignores] == "Inactive"
    (deactivated,) = org.events("deactivated", user="ignores")
    assert "never used" in deactivated["message"]


def _rotated_then_scheduled_for_deletion(org: Org, runtime: Runtime) -> str:
    """svc rotated once, its old key retired, its current key due again; then its secret is
    deleted with a recovery window (pending deletion: readable by DescribeSecret, unwritable)."""
    k2 = _one_cycle_then_due_again(org, runtime)
    org.client("secretsmanager", "payments").delete_secret(SecretId="rekey/svc", RecoveryWindowInDays=7)
    org.notifications().clear()
    return k2


def _says_what_is_wrong_and_what_to_do(event: dict[str, Any]) -> None:
    assert event["severity"] == "error" and event["secret_name"] == "rekey/svc"
    assert "scheduled for deletion" in event["message"]
    assert "aws secretsmanager restore-secret --secret-id rekey/svc" in event["message"]
    assert "--force-delete-without-recovery" in event["message"]


def test_a_secret_scheduled_for_deletion_stops_a_rotation_before_any_key_is_created(org: Org, runtime: Runtime) -> None:
    k2 = _rotated_then_scheduled_for_deletion(org, runtime)

    outcome = run_work_item(runtime, item(org, "payments", "svc", "rotate", k2, sweep_id="d1"))

    assert outcome.status == "rejected"
    assert org.keys("payments", "svc") == {k2: "Active"}  # no key was created (nor deleted again)
    (unwritable,) = org.events()
    assert unwritable["event"] == "secret-unwritable"
    _says_what_is_wrong_and_what_to_do(unwritable)

    org.client("secretsmanager", "payments").restore_secret(SecretId="rekey/svc")
    assert run_work_item(runtime, item(org, "payments", "svc", "rotate", k2, sweep_id="d2")).status == "done"
    assert assert_secret_matches_an_active_key(org, "payments", "svc") != k2
    assert [e["event"] for e in org.events()] == ["secret-unwritable", "rotated"]


def test_the_scan_announces_a_secret_scheduled_for_deletion_once_a_sweep_and_queues_nothing(
    org: Org, runtime: Runtime
) -> None:
    k2 = _rotated_then_scheduled_for_deletion(org, runtime)

    sweep(runtime, "d1")
    _, outcomes = drain_work(runtime)

    assert outcomes == [] and org.keys("payments", "svc") == {k2: "Active"}
    (unwritable,) = org.events()
    assert unwritable["event"] == "secret-unwritable" and unwritable["sweep_id"] == "d1"
    _says_what_is_wrong_and_what_to_do(unwritable)

    org.client("secretsmanager", "payments").restore_secret(SecretId="rekey/svc")
    sweep(runtime, "d2")
    _, outcomes = drain_work(runtime)
    assert [o.status for o in outcomes] == ["done"]
    assert len(org.keys("payments", "svc")) == 2
    assert_secret_matches_an_active_key(org, "payments", "svc")
