"""The API-call budget: what a sweep costs per account when nothing is due, at sizes where IAM
pages its answers, and what each due action costs in the worker (docs/api-calls.md)."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
from rekey_dev import emulator as em
from rekey_dev import rotation
from rekey_dev.github_fake import GitHubFake

from bench.paging import aws_paging
from rekey.adapters import delivery_github
from rekey.runtime import Runtime
from rekey.settings import Settings
from rekey.use_cases.sweep import sweep
from tests.conftest import Org, drain_work, runtime_in_one_account
from tests.destinations import REPOSITORY, github_and_parameter
from tests.faults import Faults
from tests.invariants import current_secret

TAG = {"rekey:rotate": "true"}
PER_USER = ("ListUserTags", "ListAccessKeys", "GetAccessKeyLastUsed", "GetUser", "DescribeSecret", "GetSecretValue")


@pytest.fixture
def paged() -> Iterator[None]:
    """moto answers every listing in one page; AWS pages GetAccountAuthorizationDetails by 1,000."""
    with aws_paging():
        yield


def _users(org: Org, account: str, count: int, tagged_every: int = 5) -> None:
    """`count` users with one key each, straight into the emulator (the API would take minutes)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[org.accounts[account]]["global"]
    for i in range(count):
        tags = [{"Key": "rekey:rotate", "Value": "true"}] if i % tagged_every == 0 else []
        backend.create_user("us-east-1", f"user-{i:05d}", tags=tags)
        backend.create_access_key(f"user-{i:05d}")


def _new_day(org: Org) -> None:
    """The credential report AWS keeps 4 hours has to be generated again the next day."""
    from moto.iam.models import iam_backends

    for account in org.accounts.values():
        iam_backends[account]["global"].credential_report = None


@pytest.mark.parametrize("users", [12, 2345])
def test_a_no_action_sweep_costs_at_most_pages_plus_six_calls_and_none_per_user(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch, paged: None, users: int
) -> None:
    _users(org, "analytics", users)
    rt = runtime_in_one_account(org, monkeypatch, "analytics", faults)
    _new_day(org)

    result = sweep(rt, "budget")

    assert not result.failed and result.items == []
    (scan,) = result.accounts
    assert scan.users_in_scope == math.ceil(users / 5)  # the tagged users were all seen
    pages = math.ceil(users / 1000)
    assert faults.count("iam", "GetAccountAuthorizationDetails") == pages
    assert faults.count("iam") + faults.count("sts") <= pages + 6
    # The report started first and fetched after the users' pages: one call each (issue 33).
    assert faults.count("iam", "GenerateCredentialReport") == faults.count("iam", "GetCredentialReport") == 1
    if users <= 1000:  # AssumeRole, GenerateCredentialReport, GetAccountAuthorizationDetails, GetCredentialReport
        assert faults.count("iam") + faults.count("sts") == 4
    assert [op for (_, op) in faults.calls if op in PER_USER] == []
    # The hub's calls do not grow with users either: one ListAccounts page, nothing queued.
    assert faults.count("organizations") == 1 and faults.count("sqs") == 0


def test_a_report_still_in_progress_is_waited_for_through_the_runtimes_clock(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IAM still generating the report once the users are paged: GetCredentialReport is asked
    again after each wait (not GenerateCredentialReport), and the waits are the runtime's."""
    org.create_user("payments", "svc", TAG)
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    waited: list[float] = []
    rt.sleep = waited.append
    _new_day(org)
    faults.fail("iam", "GetCredentialReport", code="ReportInProgress", status=404, times=2)

    result = sweep(rt, "in-progress")

    assert not result.failed and result.accounts[0].users_in_scope == 1
    assert faults.count("iam", "GenerateCredentialReport") == 1
    assert faults.count("iam", "GetCredentialReport") == 3
    assert waited[:2] == [0.5, 1.0]


def _worker_calls(rt: Runtime, faults: Faults) -> Counter[str]:
    """The calls the worker made over the work queue (not the event source's own SQS calls, nor
    the hub's state table's: _hub_state_calls)."""
    faults.calls.clear()
    result, outcomes = drain_work(rt)
    assert result.failed == 0 and all(o.status == "done" for o in outcomes), outcomes
    return Counter({f"{s}:{o}": n for (s, o), n in faults.calls.items() if s not in ("sqs", "dynamodb") and n})


def _hub_state_calls(faults: Faults) -> Counter[str]:
    """The hub's state table's calls since the last _worker_calls (the breaker, the waves)."""
    return Counter({f"{s}:{o}": n for (s, o), n in faults.calls.items() if s == "dynamodb" and n})


# Each run that changes a key reads the halt and the waves, and counts itself for the breaker.
HUB_STATE = Counter({"dynamodb:BatchGetItem": 1, "dynamodb:UpdateItem": 1})


def _in_member_account(calls: Counter[str]) -> int:
    """A work item's calls into the member account (IAM, STS, Secrets Manager): not the hub's
    sns:Publish, nor what a worker process does once (FIRST_ITEM)."""
    return sum(
        n for call, n in calls.items() if not call.startswith(("sns:", "organizations:")) and call not in FIRST_ITEM
    )


READS = {
    "iam:GetUser": 1,
    # The user's privileges, judged again before acting (a user with no policy of its own and
    # no group; each inline policy, group and managed policy costs more).
    "iam:ListUserPolicies": 1,
    "iam:ListAttachedUserPolicies": 1,
    "iam:ListGroupsForUser": 1,
    # The account's roles (one the user may assume counts with its own policies) and customer
    # managed policies: one page below 1,000 of them (issue 27).
    "iam:GetAccountAuthorizationDetails": 1,
    "secretsmanager:DescribeSecret": 1,
    "iam:ListAccessKeys": 1,
}
# Once per worker process: the spoke writer role (the scan used the reader). The organization's
# accounts, which the worker checks each item's account against, were listed by the sweep in
# this process (a worker Lambda lists them once per 10 minutes).
FIRST_ITEM = {"sts:AssumeRole": 1}
# A rotation's calls after the re-read: a user's first (its secret created), and each later one.
FIRST_ROTATION = {
    "secretsmanager:CreateSecret": 1,  # no secret yet: created with the intent's tags
    "secretsmanager:PutResourcePolicy": 1,
    "iam:CreateAccessKey": 1,
    "secretsmanager:PutSecretValue": 1,  # the first version is current at once
    "sts:GetCallerIdentity": 1,  # signed by the new key
    "secretsmanager:UntagResource": 1,
    "sns:Publish": 1,
}
LATER_ROTATION = {
    "secretsmanager:TagResource": 1,  # the secret exists: the intent is a tag
    # Put again, every rotation: no tag may vouch for what the secret's policy is.
    "secretsmanager:PutResourcePolicy": 1,
    "iam:CreateAccessKey": 1,
    "secretsmanager:PutSecretValue": 1,
    "sts:GetCallerIdentity": 1,
    "secretsmanager:UpdateSecretVersionStage": 1,  # AWSCURRENT moves (AWSPENDING stays with it)
    "secretsmanager:UntagResource": 1,
    "sns:Publish": 1,
}


def test_each_action_makes_only_the_calls_it_needs(org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    """One user through a whole cycle: first rotation, deactivation, deletion, second rotation.
    These are the counts docs/api-calls.md states."""
    org.create_user("payments", "svc", TAG)
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)

    org.age(91)
    sweep(rt, "day-91")
    # One key: when it was last used changes nothing (not asked).
    assert (calls := _worker_calls(rt, faults)) == Counter({**FIRST_ITEM, **READS, **FIRST_ROTATION})
    assert _in_member_account(calls) == 13
    assert _hub_state_calls(faults) == HUB_STATE

    org.age(10)
    sweep(rt, "day-101")
    assert _worker_calls(rt, faults) == Counter(
        {**READS, "iam:GetAccessKeyLastUsed": 2, "iam:UpdateAccessKey": 1, "sns:Publish": 1}
    )

    org.age(10)
    sweep(rt, "day-111")
    assert _worker_calls(rt, faults) == Counter(
        {**READS, "iam:DeleteAccessKey": 1, "sns:Publish": 1}  # one active key: its use is not asked
    )

    org.age(80)  # the new key is 90 days old
    sweep(rt, "day-191")
    assert (calls := _worker_calls(rt, faults)) == Counter({**READS, **LATER_ROTATION})
    assert _in_member_account(calls) == 14
    assert _hub_state_calls(faults) == HUB_STATE
    assert len(org.keys("payments", "svc")) == 2


def test_secrets_managers_rotation_costs_its_steps_re_reads(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With REKEY_ROTATION_RELAY (the hub stack's default), the worker hands a due rotation to
    Secrets Manager, whose steps reach the hub (counted here: the hub's rotation function runs
    with the same counting clients); docs/api-calls.md states these counts."""
    monkeypatch.setenv("REKEY_ROTATION_RELAY", rotation.RELAY_NAME)
    endpoint = em.rotation_endpoint(environment=lambda: dict(os.environ)).function
    counted = replace(endpoint, make_client=faults.make_client)
    rotation.deploy_relay(org.emulator, org.accounts["payments"], rotation_url=org.emulator.serve_function_url(counted))
    org.create_user("payments", "svc", TAG)
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    steps = {"secretsmanager:DescribeSecret": 1, "iam:GetUser": 1, "iam:ListAccessKeys": 1}  # a later step's re-read

    def rotation_calls(first: bool) -> Counter[str]:
        creating = {  # createSecret: every check again, then rekey's protocol up to the staged key
            **READS,
            "secretsmanager:TagResource": 1,  # the intent
            "secretsmanager:PutResourcePolicy": 1,
            "iam:CreateAccessKey": 1,
            "secretsmanager:PutSecretValue": 1,  # into Secrets Manager's version, with the key's label
        }
        testing = {**steps, "secretsmanager:GetSecretValue": 1, "sts:GetCallerIdentity": 1}
        finishing = {**steps, "secretsmanager:UpdateSecretVersionStage": 1, "secretsmanager:UntagResource": 1}
        worker = {**READS, "secretsmanager:RotateSecret": 1, **({"secretsmanager:CreateSecret": 1,
                  "secretsmanager:PutResourcePolicy": 1} if first else {})}  # fmt: skip
        # Each step's container is cold here (the emulator builds the function anew per request):
        # it lists the organization's accounts, which a warm one does once per 10 minutes.
        hub = {"sns:Publish": 1, "organizations:ListAccounts": 3}
        return sum((Counter(c) for c in (worker, creating, testing, finishing, hub)), Counter())

    org.age(91)
    sweep(rt, "day-91")
    calls = _worker_calls(rt, faults)
    assert calls - Counter(FIRST_ITEM) - Counter({"sts:AssumeRole": calls["sts:AssumeRole"]}) == rotation_calls(True)
    assert _in_member_account(calls - Counter({"sts:AssumeRole": calls["sts:AssumeRole"]})) == 31

    for days, name in ((10, "day-101"), (10, "day-111")):
        org.age(days)
        sweep(rt, name)
        _worker_calls(rt, faults)
    org.age(80)
    sweep(rt, "day-191")
    calls = _worker_calls(rt, faults)
    assert calls - Counter({"sts:AssumeRole": calls["sts:AssumeRole"]}) == rotation_calls(False)
    assert _in_member_account(calls - Counter({"sts:AssumeRole": calls["sts:AssumeRole"]})) == 29
    assert len(org.keys("payments", "svc")) == 2


def test_making_room_for_a_rotation_costs_one_delete_more(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, retired = org.create_user("payments", "svc", TAG, keys=2)
    org.client("iam", "payments").update_access_key(UserName="svc", AccessKeyId=retired, Status="Inactive")
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    org.age(91)
    sweep(rt, "day-91")
    # Two work items (delete, then rotate), each re-reading the user's keys and secret.
    assert _worker_calls(rt, faults) == Counter(
        {
            **FIRST_ITEM,
            **{call: 2 for call in READS},
            "iam:DeleteAccessKey": 1,  # the inactive key, announced
            "secretsmanager:CreateSecret": 1,
            "secretsmanager:PutResourcePolicy": 1,
            "iam:CreateAccessKey": 1,
            "secretsmanager:PutSecretValue": 1,
            "sts:GetCallerIdentity": 1,
            "secretsmanager:UntagResource": 1,
            "sns:Publish": 2,
        }
    )
    assert set(org.keys("payments", "svc")) - {old} and retired not in org.keys("payments", "svc")


def test_member_account_clients_are_reused_for_the_most_recent_accounts_only(org: Org, faults: Faults) -> None:
    """Clients are reused (no second sts:AssumeRole) but not kept for every account ever seen:
    a 1,000-account sweep would otherwise hold ~2,000 boto3 clients (~1 GB)."""
    from rekey.runtime import Clients

    clients = Clients(Settings.from_env(), faults.make_client, cache_size=2)
    payments, analytics, sandbox = (org.accounts[n] for n in ("payments", "analytics", "sandbox"))
    for account in (payments, analytics, payments, sandbox):  # sandbox evicts analytics
        clients.account(account)
    assert faults.count("sts", "AssumeRole") == 3
    clients.account(payments)  # still cached
    assert faults.count("sts", "AssumeRole") == 3
    clients.account(analytics)
    assert faults.count("sts", "AssumeRole") == 4


def test_over_a_whole_cycle_a_user_is_read_only_on_its_action_days(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steady state (issue 17.1): a key lives from its rotation at 90 days to its deletion at 110,
    and the scan used to read the user on all 21 of those days. Now the credential report and
    the secrets' listing say which days have an action; the others cost no per-user call."""
    read_on, acted_on = _a_cycle(org, faults, monkeypatch)
    assert acted_on == [90, 100, 110]  # rotate, deactivate the old key, delete it
    assert read_on == acted_on


def test_a_warning_day_is_a_read_day_too(org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old key still used after its replacement appeared: the report shows the use, so the
    days the worker warns about it are read, and only those."""
    read_on, acted_on = _a_cycle(org, faults, monkeypatch, use_old_key_on=range(91, 101))
    warned = sorted({int(e["sweep_id"][1:]) for e in org.events("in-use")})
    assert warned and acted_on == sorted({*warned, 90, 100, 110})
    assert read_on == acted_on


def _a_cycle(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch, use_old_key_on: range = range(0)
) -> tuple[list[int], list[int]]:
    """130 days of sweep and worker for one user: the days its keys or secret were read by the
    scan, and the days the worker did something (acted or warned)."""
    rt = runtime_in_one_account(org, monkeypatch, "payments", faults)
    (old,) = org.create_user("payments", "svc", TAG)
    read_on, acted_on = [], []
    for day in range(1, 131):
        org.age(1)
        if day in use_old_key_on:
            org.emulator.use_key(org.accounts["payments"], old)
        _new_day(org)
        faults.calls.clear()
        result = sweep(rt, f"d{day}")
        if faults.count("iam", "ListAccessKeys") or faults.count("secretsmanager", "DescribeSecret"):
            read_on.append(day)
        _, outcomes = drain_work(rt)
        if any(o.status == "done" for o in outcomes):
            acted_on.append(day)
        assert not result.failed
    return read_on, acted_on


def test_a_delivery_costs_its_destinations_calls_per_push(
    org: Org, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user selecting an SSM parameter and a GitHub repository (issue 30): each rotation adds,
    per destination, a TagResource for its status and an announcement, and the destination's own
    calls: SSM ListTagsForResource (whose parameter it is) + PutParameter; GitHub the scope's
    public key, each secret's metadata before and after its PUT, and (first push of a process)
    the App's token, whose key is read once from the hub's Secrets Manager."""
    # The process's installation tokens, fresh: one another test's fake left at this port is not sent.
    monkeypatch.setattr(delivery_github, "TOKENS", delivery_github.TokenCache())
    with GitHubFake() as github:
        github.add_installation("acme")
        github.add_repository(REPOSITORY)
        monkeypatch.setenv("REKEY_DESTINATIONS", github_and_parameter(org, github))
        org.create_user("payments", "svc", {**TAG, "rekey:deliver-to": "ci,params"})
        rt = runtime_in_one_account(org, monkeypatch, "payments", faults)

        org.age(91)
        sweep(rt, "day-91")
        github.requests.clear()
        assert _worker_calls(rt, faults) == Counter({**FIRST_ITEM, **READS, **FIRST_ROTATION}) + PUSHED + Counter(
            {"secretsmanager:GetSecretValue": 1}  # the App's key, in the hub: the process's first token
        )
        assert _github(github) == ["POST access_tokens", *GITHUB_PUSH]

        # The next day costs the scan nothing more: which destinations hold the key is on the
        # secret's tags, listed already.
        org.age(1)
        _new_day(org)
        faults.calls.clear()
        assert sweep(rt, "day-92").items == []
        assert faults.count("ssm") == 0 and github.requests == []

        # Retired on proof (both destinations synced, the new key used): no call more than without.
        org.emulator.use_key(org.accounts["payments"], current_secret(org, "payments", "rekey/svc")["AccessKey"])
        org.age(9)
        sweep(rt, "day-101")
        assert _worker_calls(rt, faults) == Counter(
            {**READS, "iam:GetAccessKeyLastUsed": 2, "iam:UpdateAccessKey": 1, "sns:Publish": 1}
        )
        org.age(10)
        sweep(rt, "day-111")
        drain_work(rt)

        # A later rotation: the token is still the process's (an hour), the rest as before.
        org.age(70)
        _new_day(org)
        sweep(rt, "day-181")
        calls = _worker_calls(rt, faults)
        assert calls == Counter({**READS, **LATER_ROTATION}) + PUSHED, calls
        assert _github(github) == GITHUB_PUSH
        assert len(org.keys("payments", "svc")) == 2


# Per push to both destinations: each destination's status tag and announcement, the SSM parameter's
# calls, and the GitHub push's intent, kept on the secret before it writes (its third tag).
PUSHED = Counter(
    {"secretsmanager:TagResource": 3, "sns:Publish": 2, "ssm:ListTagsForResource": 1, "ssm:PutParameter": 1}
)
# GitHub's, per push: the scope's public key, both secrets' metadata (whose they are), then each
# secret written and its metadata read back (the record of rekey's write).
GITHUB_PUSH = [
    "GET public-key",
    "GET AWS_ACCESS_KEY_ID",
    "GET AWS_SECRET_ACCESS_KEY",
    "PUT AWS_ACCESS_KEY_ID",
    "GET AWS_ACCESS_KEY_ID",
    "PUT AWS_SECRET_ACCESS_KEY",
    "GET AWS_SECRET_ACCESS_KEY",
]


def _github(github: GitHubFake) -> list[str]:
    """The requests GitHub received since last asked, as `METHOD last-part-of-the-path`."""
    seen = [f"{r.method} {r.path.rsplit('/', 1)[1]}" for r in github.requests]
    github.requests.clear()
    return seen
