"""Which spoke role each use case enters a member account with, and how every session it opens
there is named: attributable to a function (`rekey-scan`, `rekey-worker`) or to the operator
it acts for (`rekey-op-<person>`: the caller the hub authenticated, or for the CLI's reads the
caller STS reports). No session sets a SourceIdentity: no role trusts sts:SetSourceIdentity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rekey.adapters.sts import person_of, safe_name
from rekey.runtime import Clients, Runtime
from rekey.settings import Settings

ACCOUNT = "222222222222"
ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "REKEY_WORK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/rekey-work.fifo",
    "REKEY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:rekey-events",
    "REKEY_MEMBER_CALLS_PER_SECOND": "0",  # the stand-in clients are not botocore's
}


class FakeSts:
    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.assumed: list[dict[str, Any]] = []

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.assumed.append(kwargs)
        expires = datetime.now(UTC) + timedelta(hours=1)
        return {
            "Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expires}
        }

    def get_caller_identity(self) -> dict[str, str]:
        return {"Arn": self.caller}


def clients(
    caller: str = "arn:aws:sts::111111111111:assumed-role/rekey-hub-scan/fn", **env: str
) -> tuple[Clients, FakeSts]:
    sts = FakeSts(caller)

    def make_client(service: str, **_: Any) -> Any:
        return sts if service == "sts" else object()

    return Clients(Settings.from_env({**ENV, **env}), make_client), sts


def as_person(c: Clients) -> str:
    """What the CLI's plan and report do first (rekey_cli.operations_cli.run): act for whoever
    STS says runs them. Returns that caller."""
    rt = Runtime(Settings.from_env(ENV), c)
    caller = rt.caller_arn()
    rt.act_for(caller)
    return caller


def test_a_function_reads_through_the_reader_and_writes_through_the_writer() -> None:
    c, sts = clients()
    c.account(ACCOUNT)
    c.account(ACCOUNT, write=True)
    assert sts.assumed == [
        {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke-reader", "RoleSessionName": "rekey-scan"},
        {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke", "RoleSessionName": "rekey-worker"},
    ]
    # Each role's session is kept apart: asking again assumes nothing.
    c.account(ACCOUNT)
    c.account(ACCOUNT, write=True)
    assert len(sts.assumed) == 2


def test_the_role_names_follow_the_settings() -> None:
    c, sts = clients(REKEY_SPOKE_ROLE_NAME="key-rotator", REKEY_SPOKE_READER_ROLE_NAME="key-reader")
    c.account(ACCOUNT)
    c.account(ACCOUNT, write=True)
    assert [a["RoleArn"].rsplit("/", 1)[1] for a in sts.assumed] == ["key-reader", "key-rotator"]


def test_a_persons_sessions_are_named_after_who_sts_says_it_is() -> None:
    c, sts = clients(caller="arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_0a1b/alice@example.com")
    c.account(ACCOUNT)  # opened before: not reused for the person
    assert as_person(c) == "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Ops_0a1b/alice@example.com"
    c.account(ACCOUNT)
    assert sts.assumed[1:] == [
        {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke-reader", "RoleSessionName": "rekey-op-alice@example.com"}
    ]


def test_the_hub_names_its_writer_sessions_after_the_caller_it_authenticated() -> None:
    c, sts = clients(caller="arn:aws:sts::111111111111:assumed-role/rekey-hub-worker/rekey-hub-OperatorFunction")
    c.act_for("arn:aws:sts::111111111111:assumed-role/secops/alice")
    c.account(ACCOUNT, write=True)
    c.act_for("arn:aws:sts::111111111111:assumed-role/secops/alice")  # the same caller again: kept
    c.account(ACCOUNT, write=True)
    c.act_for("arn:aws:sts::111111111111:assumed-role/oncall/bob")  # another one: not reused
    c.account(ACCOUNT, write=True)
    writer = f"arn:aws:iam::{ACCOUNT}:role/rekey-spoke"
    assert sts.assumed == [
        {"RoleArn": writer, "RoleSessionName": "rekey-op-alice"},
        {"RoleArn": writer, "RoleSessionName": "rekey-op-bob"},
    ]


def test_the_org_role_session_is_attributable_too(monkeypatch: pytest.MonkeyPatch) -> None:
    org_role = "arn:aws:iam::333333333333:role/rekey-org-reader"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "rekey-hub-WorkerFunction-AbC123")
    c, sts = clients(REKEY_ORG_ROLE_ARN=org_role)
    c.hub("organizations")
    assert sts.assumed == [{"RoleArn": org_role, "RoleSessionName": "rekey-hub-WorkerFunction-AbC123"}]
    as_person(c)
    c.hub("organizations")  # assumed again, as the person
    assert sts.assumed[1] == {"RoleArn": org_role, "RoleSessionName": "rekey-op-fn"}


@pytest.mark.parametrize(
    ("arn", "person"),
    [
        ("arn:aws:iam::111111111111:user/alice", "alice"),
        ("arn:aws:iam::111111111111:user/team/ops/bob.smith", "bob.smith"),
        ("arn:aws:sts::111111111111:assumed-role/secops/carol@example.com", "carol@example.com"),
        ("arn:aws-us-gov:sts::111111111111:assumed-role/secops/i-0abc", "i-0abc"),
        ("arn:aws:sts::111111111111:federated-user/dave", "dave"),
        ("arn:aws:iam::111111111111:root", "root"),
        ("arn:aws:sts::111111111111:assumed-role/r/eve smith (ops)", "eve-smith--ops-"),
    ],
)
def test_a_person_is_named_as_sts_accepts_it(arn: str, person: str) -> None:
    assert person_of(arn) == person


def test_names_are_cut_to_what_sts_accepts() -> None:
    assert safe_name("x" * 100) == "x" * 64
    assert safe_name("a") == "a-"
    assert safe_name("rekey-op-" + "y" * 80) == ("rekey-op-" + "y" * 80)[:64]
