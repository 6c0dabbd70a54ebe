"""Work items, notifications and settings: the formats other people depend on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from rekey.domain.errors import ConfigurationError
from rekey.messages import Event, Notification, Severity, WorkAction, WorkItem
from rekey.settings import Settings

ITEM = {"account_id": "111111111111", "user_name": "svc,deploy", "key_id": "AKIAEXAMPLE1234567AB",
        "action": "rotate", "reason": "91 days old", "sweep_id": "20261128T000000Z"}  # fmt: skip


def test_work_item_round_trip_and_fifo_fields() -> None:
    item = WorkItem.model_validate(ITEM)
    assert WorkItem.model_validate_json(item.model_dump_json()) == item
    assert item.schema_version == 1 and item.action is WorkAction.ROTATE
    assert item.group_id(1) == "111111111111/0"
    assert item.user_key == "111111111111/svc,deploy"
    again = WorkItem.model_validate(ITEM)
    assert item.deduplication_id == again.deduplication_id
    other = WorkItem.model_validate({**ITEM, "action": "delete"})
    assert other.deduplication_id != item.deduplication_id
    assert len(item.deduplication_id) <= 128


@pytest.mark.parametrize(
    "change",
    [
        {"schema_version": 2},
        {"account_id": "12345"},
        {"user_name": "bad name with spaces"},
        {"user_name": "x" * 65},
        {"action": "destroy"},
        {"key_id": "not-a-key"},
        {"extra": "field"},
    ],
)
def test_work_item_rejects_what_it_does_not_understand(change: dict) -> None:
    with pytest.raises(ValidationError):
        WorkItem.model_validate({**ITEM, **change})


def test_notification_attributes_for_filter_policies() -> None:
    n = Notification(event=Event.ROTATED, severity=Severity.INFO, account_id="111111111111", user_name="svc",
                     owner="team-a", message="m", at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    attrs = {k: v["StringValue"] for k, v in n.attributes().items()}
    assert attrs == {"account_id": "111111111111", "user_name": "svc", "event": "rotated", "severity": "info",
                     "owner": "team-a"}  # fmt: skip
    assert all(v["DataType"] == "String" for v in n.attributes().values())
    assert len(n.subject()) <= 100


ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "REKEY_WORK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111111111111/rekey-work.fifo",
    "REKEY_TOPIC_ARN": "arn:aws:sns:eu-west-1:111111111111:rekey-events",
}


def test_settings_defaults() -> None:
    s = Settings.from_env(ENV)
    assert (s.rotate_after_days, s.deactivate_after_days, s.delete_after_days) == (90, 100, 110)
    assert s.spoke_role_name == "rekey-spoke" and s.tag_key == "rekey:rotate"
    assert s.secret_name == "rekey/{user_name}"
    assert s.spoke_role_arn("222222222222") == "arn:aws:iam::222222222222:role/rekey-spoke"


def test_settings_partition_aware_arns() -> None:
    gov = Settings.from_env({**ENV, "AWS_DEFAULT_REGION": "us-gov-west-1"})
    assert gov.spoke_role_arn("222222222222").startswith("arn:aws-us-gov:iam::")
    assert Settings.from_env({**ENV, "AWS_DEFAULT_REGION": "cn-north-1"}).partition == "aws-cn"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"REKEY_TOPIC_ARN": ""}, "missing required environment variable(s): REKEY_TOPIC_ARN"),
        ({"REKEY_ROTATE_AFTER_DAYS": "abc"}, "REKEY_ROTATE_AFTER_DAYS"),
        ({"REKEY_ROTATE_AFTER_DAYS": "120"}, "rotate < deactivate < delete"),
        ({"REKEY_TOPIC_ARN": "not-an-arn"}, "REKEY_TOPIC_ARN"),
        ({"REKEY_SECRET_NAME": "static"}, "{user_name}"),
        ({"REKEY_EXCLUDED_ACCOUNTS": "123,abc"}, "not 12-digit account ids"),
        ({"AWS_DEFAULT_REGION": ""}, "no AWS region"),
    ],
)
def test_bad_configuration_is_one_clear_line(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**ENV, **change})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
