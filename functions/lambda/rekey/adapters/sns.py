"""Amazon SNS: every event on one topic."""

from __future__ import annotations

import json
from typing import Any

from ..messages import Notification
from .errors import aws_call

PERMISSIONS = {"hub": ("sns:Publish",)}


class Notifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, notification: Notification) -> None:
        with aws_call("sns:Publish"):
            self._client.publish(TopicArn=self.topic_arn, **publish_arguments(notification))


def publish_arguments(notification: Notification) -> dict[str, Any]:
    """sns:Publish's arguments. The digest goes to email subscribers as its plain text (JSON
    with escaped line breaks is unreadable in a mail client); every other protocol, and every
    other event, gets the JSON."""
    document = notification.model_dump_json(exclude_none=True)
    arguments: dict[str, Any] = {
        "Subject": notification.subject(),
        "Message": document,
        "MessageAttributes": notification.attributes(),
    }
    if notification.digest is not None:
        arguments["Message"] = json.dumps({"default": document, "email": notification.message})
        arguments["MessageStructure"] = "json"
    return arguments
