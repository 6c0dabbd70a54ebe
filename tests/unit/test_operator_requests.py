"""Operators' requests to the hub, without an emulator: who counts as an operator and for which
accounts (REKEY_OPERATORS, rekey.domain.operators), what a request may say (OperatorCommand),
and what the operator endpoint's handler answers to each kind of event (on tests/fakes.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from rekey.domain import errors
from rekey.domain.operators import grant_for, parse_operators, role_of
from rekey.handlers import operator as endpoint
from rekey.messages import OperatorCommand
from rekey.settings import Settings
from tests.fakes import ACCOUNT, HUB, FakePorts, function_url_event

OPS = f"arn:aws:iam::{HUB}:role/team/secops"
ALICE = f"arn:aws:sts::{HUB}:assumed-role/secops/alice@example.com"
TAG = {"rekey:rotate": "true"}


# --------------------------------------------------------------------------- REKEY_OPERATORS


def test_operators_are_roles_with_scopes_and_their_sessions_are_them() -> None:
    grants = parse_operators(f" {OPS}=* ; arn:aws:iam::{HUB}:role/oncall=444455556666,ou-ab12-34567890,r-ab12 ;")
    assert [g.role_arn for g in grants] == [OPS, f"arn:aws:iam::{HUB}:role/oncall"]
    # A session's ARN carries no role path: the role is known by account and name.
    assert grant_for(grants, ALICE) == grants[0]
    assert grant_for(grants, f"arn:aws:sts::{HUB}:assumed-role/oncall/bob") == grants[1]
    for caller in (
        "arn:aws:sts::444455556666:assumed-role/secops/alice",  # the same name in another account
        f"arn:aws-us-gov:sts::{HUB}:assumed-role/secops/alice",  # another partition
        f"arn:aws:iam::{HUB}:user/secops",  # a user of the same name
        f"arn:aws:iam::{HUB}:root",
        f"arn:aws:sts::{HUB}:federated-user/secops",
        f"arn:aws:sts::{HUB}:assumed-role/secops-admin/alice",
        OPS,  # a role's ARN is never a caller's
    ):
        assert grant_for(grants, caller) is None, caller
    assert role_of(ALICE) is not None and role_of(OPS) is None


def test_a_grant_reaches_its_accounts_and_the_accounts_under_its_ous() -> None:
    (everything, oncall) = parse_operators(f"{OPS}=*;arn:aws:iam::{HUB}:role/oncall=444455556666,ou-ab12-34567890")
    asked: list[list[str]] = []

    def under(ous: list[str]) -> set[str]:
        asked.append(ous)
        return {"555566667777"}

    assert everything.covers("123412341234", under) and asked == []
    assert oncall.covers("444455556666", under) and asked == []  # named: no listing needed
    assert oncall.covers("555566667777", under) and asked == [["ou-ab12-34567890"]]
    assert not oncall.covers("123412341234", under)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("arn:aws:iam::111122223333:role/ops", "is not <role ARN>=<accounts or OUs>"),
        ("arn:aws:iam::111122223333:role/*=*", "is not an IAM role ARN"),
        ("arn:aws:iam::111122223333:root=*", "is not an IAM role ARN"),
        ("arn:aws:iam::111122223333:user/alice=*", "is not an IAM role ARN"),
        ("arn:aws:sts::111122223333:assumed-role/ops/alice=*", "is not an IAM role ARN"),
        ("arn:aws:iam::111122223333:role/ops=", "nothing is not *"),
        ("arn:aws:iam::111122223333:role/ops=prod", "prod is not *"),
        ("arn:aws:iam::111122223333:role/ops=*;arn:aws:iam::111122223333:role/x/ops=444455556666", "is listed twice"),
    ],
)
def test_a_wrong_entry_stops_the_hub_in_one_line(value: str, problem: str) -> None:
    with pytest.raises(errors.ConfigurationError) as refused:
        Settings.from_env({"AWS_DEFAULT_REGION": "us-east-1", "REKEY_OPERATORS": value}, require=())
    assert str(refused.value).startswith("invalid configuration: REKEY_OPERATORS: ") and problem in str(refused.value)


def test_operators_are_of_the_hubs_partition() -> None:
    with pytest.raises(errors.ConfigurationError, match="not in the hub's partition"):
        Settings.from_env({"AWS_DEFAULT_REGION": "us-gov-west-1", "REKEY_OPERATORS": f"{OPS}=*"}, require=())


# --------------------------------------------------------------------------- the request


def test_a_request_says_what_to_do_never_who_asks() -> None:
    command = OperatorCommand.model_validate_json(
        json.dumps({"command": "rollback", "account_id": ACCOUNT, "user_name": "svc", "until": "2026-12-05"})
    )
    assert (command.command, str(command.until), command.revoke_old) == ("rollback", "2026-12-05", False)
    for extra in ({"requested_by": ALICE}, {"caller": ALICE}, {"manual": True}):
        with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
            OperatorCommand(command="rotate-now", account_id=ACCOUNT, user_name="svc", **extra)
    with pytest.raises(ValidationError, match="'12345' is not a 12-digit account id"):
        OperatorCommand(command="rotate-now", account_id="12345", user_name="svc")
    with pytest.raises(ValidationError, match="revoke_old and key_id are options of rotate-now only"):
        OperatorCommand(command="rollback", account_id=ACCOUNT, user_name="svc", revoke_old=True)
    with pytest.raises(ValidationError, match="until is an option of rollback only"):
        OperatorCommand(command="rotate-now", account_id=ACCOUNT, user_name="svc", until="2026-12-05")
    with pytest.raises(ValidationError):
        OperatorCommand(command="delete-everything", account_id=ACCOUNT, user_name="svc")


# --------------------------------------------------------------------------- the handler


def url_event(body: str | None, caller: str | None = ALICE, method: str = "POST", **changes: Any) -> dict[str, Any]:
    """A function URL's event (payload format 2.0), as Lambda delivers it."""
    return function_url_event(body, caller, method, **changes)


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"] == {"content-type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def ports() -> FakePorts:
    ports = FakePorts({"REKEY_OPERATORS": f"{OPS}=*"})
    ports.iam.add_user("svc", TAG, key_ages=(3,))
    return ports


ROTATE = json.dumps({"command": "rotate-now", "account_id": ACCOUNT, "user_name": "svc"})


def test_an_operators_request_is_carried_out_for_the_caller_aws_authenticated(ports: FakePorts) -> None:
    status, body = answer(endpoint.process(url_event(ROTATE), ports))
    assert (status, body["status"], body["detail"]) == (200, "done", "rotate")
    assert ports.acting_for == ALICE  # member sessions are named after the caller
    (rotated,) = ports.outbox.events("rotated")
    assert rotated.requested_by == ALICE and f"requested by {ALICE}" in rotated.message
    assert body["events"][0]["requested_by"] == ALICE


def test_a_base64_body_is_read_as_lambda_delivers_it(ports: FakePorts) -> None:
    event = url_event(base64.b64encode(ROTATE.encode()).decode(), isBase64Encoded=True)
    assert answer(endpoint.process(event, ports))[0] == 200


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (url_event(ROTATE, caller=None), 403),  # a bare invocation, or a URL without AWS_IAM
        (url_event(ROTATE, caller=""), 403),
        ({"body": ROTATE}, 400),  # not a function URL's event at all
        (url_event(None, method="GET"), 405),
    ],
    ids=["no-authorizer", "no-caller", "not-a-url-event", "get"],
)
def test_without_an_authenticated_caller_nothing_happens(ports: FakePorts, event: dict[str, Any], status: int) -> None:
    assert answer(endpoint.process(event, ports))[0] == status
    assert ports.iam.created == 1 and ports.outbox.notifications == [] and ports.acting_for in (None, ALICE)


def test_a_caller_the_hub_does_not_name_is_refused_and_announced(ports: FakePorts) -> None:
    stranger = f"arn:aws:sts::{HUB}:assumed-role/developers/mallory"
    status, body = answer(endpoint.process(url_event(ROTATE, caller=stranger), ports))
    assert (status, body["error"]) == (403, "forbidden")
    assert body["message"] == f"{stranger} is not an operator of this hub (REKEY_OPERATORS names the roles that are)"
    (rejected,) = ports.outbox.events("rejected")
    assert (rejected.requested_by, rejected.account_id, rejected.severity.value) == (stranger, HUB, "error")
    assert ports.iam.created == 1


def test_a_malformed_request_is_refused_naming_the_caller_never_what_it_claimed(ports: FakePorts) -> None:
    claim = json.dumps({**json.loads(ROTATE), "requested_by": "arn:aws:sts::1:assumed-role/x/the-ciso"})
    for body in (claim, "not json", json.dumps({"command": "rotate-now"})):
        status, refused = answer(endpoint.process(url_event(body), ports))
        assert (status, refused["error"]) == (400, "invalid-request")
    assert "requested_by: extra_forbidden" in ports.outbox.notifications[0].message
    assert all(n.requested_by == ALICE for n in ports.outbox.events("rejected"))
    assert "the-ciso" not in "".join(n.model_dump_json() for n in ports.outbox.notifications)
    assert ports.iam.created == 1


def test_the_hubs_refusals_and_failures_answer_by_kind(ports: FakePorts) -> None:
    ports.iam.add_user("human", {}, key_ages=(3,))
    human = json.dumps({"command": "rotate-now", "account_id": ACCOUNT, "user_name": "human"})
    status, body = answer(endpoint.process(url_event(human), ports))
    assert (status, body["error"]) == (409, "refused") and "not opted in" in body["message"]
    assert ports.outbox.events("rejected")[-1].requested_by == ALICE
    nobody = json.dumps({"command": "rotate-now", "account_id": ACCOUNT, "user_name": "nobody"})
    status, body = answer(endpoint.process(url_event(nobody), ports))
    assert (status, body["error"]) == (400, "usage")
    ports.failures.fail("create_key", errors.Throttled("iam:CreateAccessKey: Throttling"))
    status, body = answer(endpoint.process(url_event(ROTATE), ports))
    assert (status, body["error"]) == (500, "throttled") and "CreateAccessKey" in body["message"]
    failed = ports.outbox.events("failed")[-1]
    assert failed.requested_by == ALICE and "rotate-now of svc requested by" in failed.message
