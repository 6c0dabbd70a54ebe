"""Settings for running rekey in production (digest queue, org role, replicated secrets), and
ARNs built for the hub's partition (aws, aws-us-gov, aws-cn) in the code and the templates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rekey_dev import templates as t

from rekey.domain.errors import ConfigurationError
from rekey.domain.secret_policy import secret_policy
from rekey.settings import Settings, partition_of

ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "REKEY_WORK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/rekey-work.fifo",
    "REKEY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:rekey-events",
}
SYDNEY_KEY = "arn:aws:kms:ap-southeast-2:111111111111:key/0b3f1b9e-5a6f-4c1e-9a7e-1234567890ab"
FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def test_production_settings_are_read_from_the_environment() -> None:
    s = Settings.from_env(
        {
            **ENV,
            "REKEY_DIGEST_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/rekey-digest",
            "REKEY_ORG_ROLE_ARN": "arn:aws:iam::222222222222:role/rekey-org-reader",
            "REKEY_BREAK_GLASS_ROLE_ARN": "arn:aws:iam::333333333333:role/break-glass",
            "REKEY_SPOKE_READER_ROLE_NAME": "team-reader",
            "REKEY_SECRET_REPLICA_REGIONS": " us-east-1, ap-southeast-2 ,us-east-1",
            "REKEY_SECRET_REPLICA_KMS_KEYS": f"us-east-1=alias/rekey, ap-southeast-2={SYDNEY_KEY}",
        }
    )
    assert s.digest_queue_url and s.org_role_arn == "arn:aws:iam::222222222222:role/rekey-org-reader"
    assert s.break_glass_role_arn == "arn:aws:iam::333333333333:role/break-glass"
    assert s.spoke_reader_role_arn("222222222222") == "arn:aws:iam::222222222222:role/team-reader"
    assert s.secret_replica_regions == ("us-east-1", "ap-southeast-2")  # in order, once each
    assert s.secret_replicas() == [
        {"Region": "us-east-1", "KmsKeyId": "alias/rekey"},
        {"Region": "ap-southeast-2", "KmsKeyId": SYDNEY_KEY},
    ]
    assert s.hub_account_id == "111111111111"


def test_without_them_nothing_changes() -> None:
    s = Settings.from_env(ENV)
    assert s.digest_queue_url is None and s.org_role_arn is None and s.break_glass_role_arn is None
    assert s.spoke_reader_role_arn("222222222222") == "arn:aws:iam::222222222222:role/rekey-spoke-reader"
    assert s.secret_replica_regions == () and s.secret_replicas() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"REKEY_SECRET_REPLICA_REGIONS": "eu-west-1"}, "is the hub's own region"),
        ({"REKEY_SECRET_REPLICA_REGIONS": "Frankfurt"}, "not region names"),
        ({"REKEY_SECRET_REPLICA_REGIONS": "cn-north-1"}, "not in the aws partition"),
        ({"REKEY_SECRET_REPLICA_KMS_KEYS": "us-east-1=alias/x"}, "names regions without a replica: us-east-1"),
        (
            {"REKEY_SECRET_REPLICA_REGIONS": "us-east-1", "REKEY_SECRET_REPLICA_KMS_KEYS": "alias/x"},
            "is not region=key",
        ),
        ({"REKEY_ORG_ROLE_ARN": "rekey-org-reader"}, "REKEY_ORG_ROLE_ARN: "),
        ({"REKEY_ORG_ROLE_ARN": "arn:aws-cn:iam::222222222222:role/r"}, "not in the hub's partition (aws)"),
        ({"REKEY_BREAK_GLASS_ROLE_ARN": "arn:aws:iam::222222222222:root"}, "REKEY_BREAK_GLASS_ROLE_ARN: "),
        ({"REKEY_BREAK_GLASS_ROLE_ARN": "*"}, "REKEY_BREAK_GLASS_ROLE_ARN: "),
        ({"REKEY_BREAK_GLASS_ROLE_ARN": "arn:aws-cn:iam::222222222222:role/r"}, "REKEY_BREAK_GLASS_ROLE_ARN is not in"),
    ],
)
def test_bad_production_settings_are_one_clear_line(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**ENV, **change})
    assert message in str(raised.value) and "\n" not in str(raised.value)


# --------------------------------------------------------------------------- partitions


@pytest.mark.parametrize(
    ("region", "partition"),
    [("eu-west-1", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-northwest-1", "aws-cn"), ("cn-north-1", "aws-cn")],
)
def test_every_arn_rekey_builds_is_in_the_hubs_partition(region: str, partition: str) -> None:
    s = Settings.from_env({"AWS_DEFAULT_REGION": region, "REKEY_WORK_QUEUE_URL": "q"}, require=())
    assert partition_of(region) == s.partition == partition
    assert s.spoke_role_arn("222222222222") == f"arn:{partition}:iam::222222222222:role/rekey-spoke"
    assert s.topic_arn.startswith(f"arn:{partition}:sns:{region}:")  # the placeholder of commands without a topic
    # The secret's policy names the user (its ARN as IAM gives it) and the spoke role.
    user = f"arn:{partition}:iam::222222222222:user/svc"
    policy = secret_policy(
        user,
        s.spoke_role_arn("222222222222"),
        f"arn:{partition}:iam::333333333333:role/bg",
        reader_role_arn=s.spoke_reader_role_arn("222222222222"),
        auditor_role_arns=[f"arn:{partition}:iam::222222222222:role/prowler"],
    )
    assert s.spoke_reader_role_arn("222222222222").startswith(f"arn:{partition}:iam::222222222222:role/")
    relay_env = {"AWS_DEFAULT_REGION": region, "REKEY_ROTATION_RELAY": "rekey-rotation-relay"}
    relay = Settings.from_env(relay_env, require=())
    assert relay.rotation_function_arn("222222222222") == (
        f"arn:{partition}:lambda:{region}:222222222222:function:rekey-rotation-relay"
    )
    arns = re.findall(r"arn:[a-z-]+:", str(policy))
    assert arns and set(arns) == {f"arn:{partition}:"}
    replica = Settings.from_env(
        {
            "AWS_DEFAULT_REGION": region,
            "REKEY_WORK_QUEUE_URL": "q",
            "REKEY_ORG_ROLE_ARN": f"arn:{partition}:iam::222222222222:role/rekey-org-reader",
        },
        require=(),
    )
    assert replica.org_role_arn and replica.org_role_arn.startswith(f"arn:{partition}:")


def test_the_code_builds_no_arn_with_a_fixed_partition() -> None:
    offenders = []
    for path in FUNCTIONS.rglob("*.py"):
        if path.parent.name == "rekey_dev" or path.name == "sqs_source.py":
            continue  # the emulator's helpers and the CLI's stand-in Lambda context (moto is partition aws)
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"arn:aws(-cn|-us-gov)?:", line) and "e.g." not in line and "(arn:" not in line:
                offenders.append(f"{path.relative_to(FUNCTIONS)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("template", [t.HUB_TEMPLATE, *sorted(t.SPOKE_TEMPLATES.glob("*.yaml"))], ids=lambda p: p.name)
def test_the_templates_build_every_arn_from_aws_partition(template: Path) -> None:
    text = template.read_text()
    literal = [
        line.strip()
        for line in text.splitlines()
        if re.search(r"arn:aws[:-]", line) and "AllowedPattern" not in line and "e.g." not in line
    ]
    assert literal == []  # arn:${AWS::Partition}:... everywhere
    # Service endpoints in conditions differ in China (amazonaws.com.cn): built from AWS::URLSuffix.
    for match in re.finditer(r"kms:ViaService: (.+)", text):
        assert "${AWS::URLSuffix}" in match.group(1)
