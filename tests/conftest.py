"""Shared fixtures. Integration and e2e tests run against one moto server per session (per
xdist worker), reset between tests; unit tests never touch it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from rekey_dev import emulator as em

from rekey.runtime import Runtime
from rekey.settings import Settings
from tests.faults import Faults

# Here, not in tests/reliability/: the xdist controller collects nothing, so it loads only this
# conftest, and it is the one that gathers the workers' figures and prints them.
pytest_plugins = ["tests.reliability.summary"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the slow tests first: a minute-long test started last would leave the other
    core idle until it ends. Every worker sorts alike (a stable sort), as xdist requires."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


MEMBERS = ("payments", "analytics", "sandbox")


@pytest.fixture(scope="session")
def emulator() -> Iterator[em.Emulator]:
    saved = dict(os.environ)
    emu = em.start()
    yield emu
    emu.stop()
    os.environ.clear()
    os.environ.update(saved)


@dataclass
class Org:
    """An emulated organization: management account, members, hub queues and topic, and an
    SQS subscription that records every notification."""

    emulator: em.Emulator
    hub: em.HubResources
    accounts: dict[str, str]
    events_queue_url: str
    organization_id: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str, account: str) -> Any:
        return self.emulator.account_client(service, self.accounts.get(account, account))

    def create_user(
        self, account: str, name: str, tags: dict[str, str] | None = None, keys: int = 1, **kw: Any
    ) -> list[str]:
        iam = self.client("iam", account)
        tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
        iam.create_user(UserName=name, Tags=tag_list, **kw)
        return [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]

    def keys(self, account: str, user: str) -> dict[str, str]:
        meta = self.client("iam", account).list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in meta}

    def age(self, days: float, accounts: tuple[str, ...] | None = None) -> None:
        for name in accounts or tuple(self.accounts):
            self.emulator.age_keys(self.accounts.get(name, name), days)

    def notifications(self) -> list[dict[str, Any]]:
        """Every notification received so far (drains the subscription queue)."""
        sqs = self.emulator.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.events_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return self.received
            for m in batch:
                self.received.append(json.loads(m["Body"]))
            sqs.delete_message_batch(
                QueueUrl=self.events_queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )

    def events(self, event: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        return [
            n
            for n in self.notifications()
            if (event is None or n["event"] == event) and (user is None or n.get("user_name") == user)
        ]

    def queue_depth(self, url: str) -> int:
        attrs = self.emulator.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes that production code builds during the test (the CLI's, run in-process; the
    emulated functions' behind their URLs) wait through a no-op sleep, as those the tests build
    do: the emulator has nothing to wait for (no IAM propagation delay, no throttling to pace
    for, the credential report ready at the next call), and a real sleep would only cost time."""
    build = Runtime.build.__func__  # type: ignore[attr-defined]

    def without_waits(cls: type[Runtime], settings: Settings, make_client: Any = None) -> Runtime:
        rt = build(cls, settings, make_client)
        rt.sleep = lambda _seconds: None
        return rt

    monkeypatch.setattr(Runtime, "build", classmethod(without_waits))


@pytest.fixture
def org(emulator: em.Emulator, monkeypatch: pytest.MonkeyPatch, no_waits: None) -> Org:
    return build_org(emulator, monkeypatch.setenv)


def build_org(emulator: em.Emulator, setenv: Callable[[str, str], None]) -> Org:
    """A fresh organization on `emulator`, its hub's settings exported with `setenv` (the `org`
    fixture's, also used by processes the reliability tests start)."""
    emulator.reset()
    organization = em.create_organization(emulator, MEMBERS)
    hub = em.create_hub(emulator)
    events_url = em.subscribe_queue(emulator, hub.topic_arn, "test-events")
    for variable, value in hub.environment().items():
        setenv(variable, value)
    # The management account hosts the hub and has no spoke role.
    setenv("REKEY_EXCLUDED_ACCOUNTS", em.MANAGEMENT_ACCOUNT)
    # As the hub stack sets it (OrganizationId): each secret's policy denies principals outside it.
    setenv("REKEY_ORGANIZATION_ID", organization.organization_id)
    return Org(emulator, hub, organization.accounts, events_url, organization.organization_id)


OPERATORS_ROLE = "platform-operators"


@dataclass(frozen=True)
class Operator:
    """A person who runs rekey's operator commands: a session of a role in the hub account,
    whose credentials are the shell's (the environment's)."""

    arn: str  # the session, as AWS authenticates it: arn:aws:sts::<hub>:assumed-role/<role>/<session>
    role_arn: str
    # AccessKeyId, SecretAccessKey, SessionToken: never printed.
    credentials: dict[str, str] = field(repr=False, compare=False, default_factory=dict)


def become_operator(
    org: Org,
    monkeypatch: pytest.MonkeyPatch,
    *,
    scopes: str | None = "*",
    role: str = OPERATORS_ROLE,
    session: str = "alice",
    account: str = em.MANAGEMENT_ACCOUNT,
) -> Operator:
    """Run this test's shell as a session of `role` in `account` (its credentials in the
    environment, boto3's default session started afresh, as in a new shell), and (unless
    `scopes` is None) name the role in the hub's REKEY_OPERATORS with those scopes."""
    iam = org.emulator.client("iam") if account == em.MANAGEMENT_ACCOUNT else org.client("iam", account)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    answer = org.emulator.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)
    credentials = answer["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    if scopes is not None:
        monkeypatch.setenv("REKEY_OPERATORS", f"{role_arn}={scopes}")
    return Operator(answer["AssumedRoleUser"]["Arn"], role_arn, credentials)


@pytest.fixture
def operator(org: Org, monkeypatch: pytest.MonkeyPatch) -> Operator:
    """The shell is an operator's, allowed on every account rekey covers."""
    return become_operator(org, monkeypatch)


@pytest.fixture
def assumed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every member role rekey assumes from now on: (role name, session name, who assumed it,
    as STS names the credentials that made the call)."""
    import rekey.runtime as runtime_module

    calls: list[tuple[str, str, str]] = []
    real = runtime_module.StsAdapter.assume

    def assume(self: Any, role_arn: str, **kwargs: Any) -> Any:
        caller = self._client.get_caller_identity()["Arn"]
        calls.append((role_arn.rsplit("/", 1)[1], kwargs.get("session_name", ""), caller))
        return real(self, role_arn, **kwargs)

    monkeypatch.setattr(runtime_module.StsAdapter, "assume", assume)
    return calls


@pytest.fixture
def runtime(org: Org) -> Runtime:
    """The production composition root, with IAM propagation waits skipped."""
    rt = Runtime.build(Settings.from_env())
    rt.sleep = lambda _seconds: None
    return rt


@pytest.fixture
def faults() -> Faults:
    # botocore's standard retries still decide; their backoff delays are recorded, not slept.
    return Faults(instant_backoff=True)


@pytest.fixture
def faulty_runtime(org: Org, faults: Faults) -> Runtime:
    """The production runtime whose clients count calls and inject the faults a test asks for."""
    rt = Runtime.build(Settings.from_env(), make_client=faults.make_client)
    rt.sleep = lambda _seconds: None
    return rt


def drain_work(rt: Runtime, *, retry_failed_now: bool = False) -> tuple[Any, list[Any]]:
    """Run the production worker over the work queue (Lambda's event source stand-in)."""
    from rekey_cli.sqs_source import drain

    from rekey.handlers import worker

    outcomes: list[Any] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return worker.process(event, rt, outcomes=outcomes)

    result = drain(rt.clients.hub("sqs"), rt.settings.work_queue_url, handler, retry_failed_now=retry_failed_now)
    return result, outcomes


def runtime_in_one_account(org: Org, monkeypatch: pytest.MonkeyPatch, account: str, faults: Faults) -> Runtime:
    """A counting runtime that sweeps only `account` (the others and the hub are excluded)."""
    others = [a for n, a in org.accounts.items() if n != account]
    monkeypatch.setenv("REKEY_EXCLUDED_ACCOUNTS", ",".join([*others, em.MANAGEMENT_ACCOUNT]))
    rt = Runtime.build(Settings.from_env(), make_client=faults.make_client)
    rt.sleep = lambda _s: None
    return rt
