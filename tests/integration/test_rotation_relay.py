"""Secrets Manager rotates a rekey secret through its account's relay (issue 28): RotateSecret,
called by the member writer on the emulator, invokes the relay that spoke-role.yaml deploys (its
very code, run in-process by rekey_dev.rotation), which posts each step to the hub's rotation URL
signed with the relay's role, and AWS's function URL (rekey_dev.function_url) authenticates it.
The hub's side is a stand-in here: it records what reaches it and, when asked, does the steps
with the account's administrator role, or refuses one."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from rekey_dev import emulator as em
from rekey_dev import rotation
from rekey_dev import templates as t
from rekey_dev.function_url import Function

from tests.conftest import Org

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

RELAY = "rekey-rotation-relay"
SECRET = "rekey/svc-billing"
OLD_VALUE = json.dumps({"AccessKey": "AKIAOLD", "SecretKey": "old"})
NEW_VALUE = json.dumps({"AccessKey": "AKIANEW", "SecretKey": "new"})
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]


@dataclass
class StandInHub:
    """Stands in for rekey.handlers.rotation.process: the function URL's events, and answers."""

    org: Org
    events: list[dict[str, Any]] = field(default_factory=list)
    refuse: str | None = None  # the step it refuses (409, with its message)
    do_steps: bool = False  # create the new version and make it current, as a rotation does

    def __call__(self, event: dict[str, Any], runtime: Any) -> dict[str, Any]:
        self.events.append(event)
        request = json.loads(event["body"])
        step, account = request["Step"], event["requestContext"]["authorizer"]["iam"]["accountId"]
        if step == self.refuse:
            return answer(409, {"error": "refused", "message": f"{step}: the new key\ndoes not sign"})
        if self.do_steps:
            secrets = self.org.client("secretsmanager", account)
            token = request["ClientRequestToken"]
            if step == "createSecret":
                secrets.put_secret_value(
                    SecretId=request["SecretId"],
                    ClientRequestToken=token,
                    SecretString=NEW_VALUE,
                    VersionStages=["AWSPENDING"],
                )
            if step == "finishSecret":
                current = stage_of(secrets.describe_secret(SecretId=request["SecretId"]), "AWSCURRENT")
                secrets.update_secret_version_stage(
                    SecretId=request["SecretId"],
                    VersionStage="AWSCURRENT",
                    MoveToVersionId=token,
                    RemoveFromVersionId=current,
                )
        return answer(200, {"step": step, "status": "done", "detail": ""})

    def requests(self) -> list[dict[str, Any]]:
        return [json.loads(e["body"]) for e in self.events]


def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def stage_of(description: dict[str, Any], stage: str) -> str | None:
    found = [v for v, stages in description["VersionIdsToStages"].items() if stage in stages]
    return found[0] if found else None


def serve(org: Org, hub: StandInHub) -> str:
    """The stand-in behind a function URL of the hub account, as the hub stack serves RotationUrl."""
    return org.emulator.serve_function_url(
        Function(
            handler=hub,
            account_id=em.MANAGEMENT_ACCOUNT,
            role_arn=f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/{em.HUB_WORKER_ROLE}",
            name="rekey-hub-RotationFunction",
            region=em.REGION,
            environment=lambda: dict(os.environ),
        )
    )


def as_writer(org: Org, account_id: str) -> Any:
    """Secrets Manager as the member writer (rekey-spoke), as the worker calls it."""
    credentials = org.emulator.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/rekey-spoke", RoleSessionName="rekey-worker"
    )["Credentials"]
    return boto3.client(
        "secretsmanager",
        region_name=em.REGION,
        endpoint_url=org.emulator.url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@pytest.fixture
def hub(org: Org) -> StandInHub:
    return StandInHub(org)


@pytest.fixture
def member(org: Org, hub: StandInHub) -> str:
    """payments, with its spoke stack deployed by the StackSet's template, the relay included
    (HubRotationUrl: the stand-in's URL), and a rekey secret."""
    account_id = org.accounts["payments"]
    t.deploy_spoke_role(
        org.emulator,
        account_id,
        hub_account_id=em.MANAGEMENT_ACCOUNT,
        organization_id=org.organization_id,
        HubRotationUrl=serve(org, hub),
    )
    org.client("secretsmanager", account_id).create_secret(Name=SECRET, SecretString=OLD_VALUE)
    return account_id


def relay_arn(account_id: str) -> str:
    return f"arn:aws:lambda:{em.REGION}:{account_id}:function:{RELAY}"


def test_the_spoke_stack_deploys_the_relay_as_the_template_says(org: Org, member: str) -> None:
    lam = org.client("lambda", member)
    function = lam.get_function(FunctionName=RELAY)["Configuration"]
    assert function["FunctionArn"] == relay_arn(member)
    assert function["Role"] == f"arn:aws:iam::{member}:role/{RELAY}" and function["Runtime"] == "python3.12"
    assert set(function["Environment"]["Variables"]) == {"REKEY_ROTATION_URL"}
    (statement,) = json.loads(lam.get_policy(FunctionName=RELAY)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "secretsmanager.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceAccount": member}}
    outputs = org.client("cloudformation", member).describe_stacks(StackName=t.SPOKE_STACK_NAME)["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in outputs["Outputs"]}["RotationRelayArn"] == relay_arn(member)
    # Without HubRotationUrl, no relay (the other members' stacks, as before).
    other = org.accounts["analytics"]
    t.deploy_spoke_role(org.emulator, other, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=org.organization_id)
    assert org.client("lambda", other).list_functions()["Functions"] == []


def relay_log(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The lines the relay printed (its log: the emulator keeps them off standard output)."""
    prefix = "relay: "
    return [json.loads(r.getMessage()[len(prefix) :]) for r in caplog.records if r.getMessage().startswith(prefix)]


def test_rotate_secret_reaches_the_hub_through_the_relay_as_its_role(
    org: Org, hub: StandInHub, member: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rekey_dev.rotation")
    hub.do_steps = True
    answered = as_writer(org, member).rotate_secret(
        SecretId=SECRET, RotationLambdaARN=relay_arn(member), RotationRules={"AutomaticallyAfterDays": 30}
    )
    token = answered["VersionId"]
    assert [r["Step"] for r in hub.requests()] == STEPS
    for request in hub.requests():  # exactly what Secrets Manager sent the relay
        assert request == {"Step": request["Step"], "SecretId": SECRET, "ClientRequestToken": token}
    for event in hub.events:  # authenticated by AWS as the relay's role, in the secret's account
        caller = event["requestContext"]["authorizer"]["iam"]
        assert caller["userArn"] == f"arn:aws:sts::{member}:assumed-role/{RELAY}/{RELAY}"
        assert caller["accountId"] == member and caller["principalOrgId"] == org.organization_id
    # The relay logged one line per step: the step, the secret, the hub's status; nothing else.
    lines = relay_log(caplog)
    assert lines == [{"step": step, "secret_id": SECRET, "status": 200} for step in STEPS]

    secrets = org.client("secretsmanager", member)
    described = secrets.describe_secret(SecretId=SECRET)
    assert described["RotationEnabled"] and described["RotationLambdaARN"] == relay_arn(member)
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert "LastRotatedDate" in described  # a completed rotation
    assert stage_of(described, "AWSCURRENT") == token and stage_of(described, "AWSPENDING") == token
    assert secrets.get_secret_value(SecretId=SECRET)["SecretString"] == NEW_VALUE

    # AWSPENDING on the current version is a finished rotation: the next one may start (moto
    # refused it), and uses the configured function when RotateSecret names none (moto forgot it).
    hub.events.clear()
    again = as_writer(org, member).rotate_secret(SecretId=SECRET)
    assert [r["Step"] for r in hub.requests()] == STEPS and again["VersionId"] != token


def test_a_retried_rotate_secret_with_its_token_rotates_nothing_again(org: Org, hub: StandInHub, member: str) -> None:
    """The SDK retries a call whose answer was lost with the same ClientRequestToken: the version
    it names exists, so nothing starts again (moto overwrote that version, the new current one,
    with an empty stub, and rotated once more)."""
    hub.do_steps = True
    writer = as_writer(org, member)
    token = writer.rotate_secret(SecretId=SECRET, RotationLambdaARN=relay_arn(member))["VersionId"]
    hub.events.clear()

    again = writer.rotate_secret(SecretId=SECRET, RotationLambdaARN=relay_arn(member), ClientRequestToken=token)

    assert again["VersionId"] == token and hub.requests() == []
    secrets = org.client("secretsmanager", member)
    assert stage_of(secrets.describe_secret(SecretId=SECRET), "AWSCURRENT") == token
    assert secrets.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"] == NEW_VALUE


def test_a_failed_step_leaves_the_pending_stub_and_no_rotation_date(
    org: Org, hub: StandInHub, member: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rekey_dev.rotation")
    hub.refuse = "testSecret"
    writer = as_writer(org, member)
    # AWS answers before the steps run: RotateSecret succeeds, the rotation fails afterwards.
    answered = writer.rotate_secret(SecretId=SECRET, RotationLambdaARN=relay_arn(member))
    assert [r["Step"] for r in hub.requests()] == ["createSecret", "setSecret", "testSecret"]
    logged = relay_log(caplog)
    assert logged[-1] == {"step": "testSecret", "secret_id": SECRET, "status": 409}

    secrets = org.client("secretsmanager", member)
    described = secrets.describe_secret(SecretId=SECRET)
    assert "LastRotatedDate" not in described
    assert described["VersionIdsToStages"][answered["VersionId"]] == ["AWSPENDING"]
    assert stage_of(described, "AWSCURRENT") != answered["VersionId"]
    assert secrets.get_secret_value(SecretId=SECRET)["SecretString"] == OLD_VALUE
    assert secrets.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"] == OLD_VALUE

    # AWSPENDING on another version than AWSCURRENT: a rotation in progress, as AWS answers.
    with pytest.raises(ClientError) as refused:
        writer.rotate_secret(SecretId=SECRET)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "previous rotation isn't complete" in refused.value.response["Error"]["Message"]


def test_the_relays_error_names_the_step_and_the_hubs_message_when_invoked(
    org: Org, hub: StandInHub, member: str
) -> None:
    """Invoked by hand (the writer may: RotateSecret requires it), the relay fails as Lambda
    reports a function's error: the step and the hub's one-line message."""
    hub.refuse = "setSecret"
    lam = org.client("lambda", member)
    event = {"Step": "setSecret", "SecretId": SECRET, "ClientRequestToken": "t" * 32}
    invoked = lam.invoke(FunctionName=RELAY, Payload=json.dumps(event).encode())
    assert invoked["FunctionError"] == "Unhandled"
    error = json.loads(invoked["Payload"].read())
    assert error["errorType"] == "StepFailed"
    assert error["errorMessage"] == f"setSecret of {SECRET}: the hub answered 409: setSecret: the new key does not sign"


def test_rotate_immediately_false_tests_the_configuration_and_rotates_nothing(
    org: Org, hub: StandInHub, member: str
) -> None:
    writer = as_writer(org, member)
    writer.rotate_secret(
        SecretId=SECRET,
        RotationLambdaARN=relay_arn(member),
        RotationRules={"AutomaticallyAfterDays": 7},
        RotateImmediately=False,
    )
    assert [r["Step"] for r in hub.requests()] == ["testSecret"]
    described = org.client("secretsmanager", member).describe_secret(SecretId=SECRET)
    assert described["RotationEnabled"] and "LastRotatedDate" not in described
    assert [stages for stages in described["VersionIdsToStages"].values()] == [["AWSCURRENT"]]


def test_a_relay_secrets_manager_may_not_invoke_is_refused(org: Org, hub: StandInHub, member: str) -> None:
    lam = org.client("lambda", member)
    (statement,) = json.loads(lam.get_policy(FunctionName=RELAY)["Policy"])["Statement"]
    lam.remove_permission(FunctionName=RELAY, StatementId=statement["Sid"])
    with pytest.raises(ClientError) as refused:
        as_writer(org, member).rotate_secret(SecretId=SECRET, RotationLambdaARN=relay_arn(member))
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert hub.events == []


def test_deploy_relay_adds_the_relay_to_an_account_with_a_spoke_stack(org: Org, hub: StandInHub) -> None:
    account_id = org.accounts["sandbox"]
    t.deploy_spoke_role(
        org.emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=org.organization_id
    )
    arn = rotation.deploy_relay(org.emulator, account_id, rotation_url=serve(org, hub))
    assert arn == relay_arn(account_id)
    org.client("secretsmanager", account_id).create_secret(Name=SECRET, SecretString=OLD_VALUE)
    as_writer(org, account_id).rotate_secret(SecretId=SECRET, RotationLambdaARN=arn)
    assert [r["Step"] for r in hub.requests()] == STEPS
    caller = hub.events[0]["requestContext"]["authorizer"]["iam"]["userArn"]
    assert caller == f"arn:aws:sts::{account_id}:assumed-role/{RELAY}/{RELAY}"
