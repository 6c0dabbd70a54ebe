"""Amazon SNS: every event on one topic."""

from __future__ import annotations

from typing import Any

from ..messages import Notification, publish_arguments
from .errors import aws_call

PERMISSIONS = {"hub": ("sns:Publish",)}


class Notifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def publish(self, notification: Notification) -> None:
        with aws_call("sns:Publish"):
            self._client.publish(TopicArn=self.topic_arn, **publish_arguments(notification))
