"""moto's server as rekey's embedded AWS, for tests and the demo.

Only this module knows it is an emulator: production code reaches it through
AWS_ENDPOINT_URL like any other endpoint."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.request import Request, urlopen

import boto3

from .function_url import Function, FunctionUrl, handler_module

MANAGEMENT_ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
# The hub's worker role under the hub stack's default RoleNamePrefix: the operator function's role.
HUB_WORKER_ROLE = "rekey-hub-worker"
OPERATOR_URL = "REKEY_OPERATOR_URL"
# The hub's rotation endpoint (what each member account's relay posts to: HubRotationUrl).
ROTATION_URL = "REKEY_ROTATION_URL"
DUMMY_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class ClientSource(Protocol):
    """What building on the emulator needs: clients, an Emulator's or plain ones under
    `moto.mock_aws` (the benchmark's in-process emulator)."""

    def client(self, service: str, **kwargs: Any) -> Any: ...


@dataclass
class Emulator:
    url: str
    server: Any
    # The hub's operator endpoint (a function URL with AuthType AWS_IAM, rekey_dev.function_url).
    operator_endpoint: FunctionUrl | None = None
    # The hub's rotation endpoint (rekey.handlers.rotation behind its URL, rekey_dev.rotation).
    rotation_endpoint: FunctionUrl | None = None
    # Function URLs of functions deployed by a stack (served until the next reset).
    function_urls: list[FunctionUrl] = field(default_factory=list)

    def reset(self) -> None:
        for served in self.function_urls:
            served.stop()
        self.function_urls.clear()
        urlopen(Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()

    def stop(self) -> None:
        for served in [*self.function_urls, self.operator_endpoint, self.rotation_endpoint]:
            if served is not None:
                served.stop()
        self.server.stop()

    def serve_function_url(self, function: Function) -> str:
        """Serve `function` behind a function URL (AuthType AWS_IAM) until the next reset; its URL."""
        served = FunctionUrl(function).start()
        self.function_urls.append(served)
        return served.url

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, **kwargs)

    def account_client(self, service: str, account_id: str) -> Any:
        """A client acting inside `account_id` (as OrganizationAccountAccessRole)."""
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="emulator"
        )["Credentials"]
        return self.client(
            service,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    @staticmethod
    def age_keys(account_id: str, days: float) -> None:
        """Make every access key (and its last use) in `account_id` older by `days`.
        Edits moto's in-process backend: production code only reads the real clock."""
        from moto.iam.models import AccessKeyLastUsed, iam_backends

        delta = timedelta(days=days)
        for key in iam_backends[account_id]["global"].access_keys.values():
            key.create_date -= delta
            used = getattr(key, "last_used", None)
            if used is not None and used.timestamp is not None:
                key.last_used = AccessKeyLastUsed(used.timestamp - delta, used.service, used.region)
        _age_rotation_intents(account_id, delta)

    @staticmethod
    def use_key(account_id: str, key_id: str, service: str = "s3", region: str = REGION, days_ago: float = 0) -> None:
        """Record that `key_id` signed a request (moto only records calls it serves)."""
        from datetime import UTC, datetime

        from moto.iam.models import AccessKeyLastUsed, iam_backends

        key = iam_backends[account_id]["global"].access_keys[key_id]
        when = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days_ago)
        key.last_used = AccessKeyLastUsed(timestamp=when, service=service, region=region)


def _age_rotation_intents(account_id: str, delta: timedelta) -> None:
    """Time passes for a recorded rotation intent too (a tag on the user's secret)."""
    from datetime import datetime

    from moto.secretsmanager.models import secretsmanager_backends

    from rekey.domain.secret_state import INTENT_AT_TAG

    for secret in secretsmanager_backends[account_id][REGION].secrets.values():
        for tag in getattr(secret, "tags", None) or []:
            if tag.get("Key") == INTENT_AT_TAG:
                at = datetime.fromisoformat(tag["Value"].replace("Z", "+00:00")) - delta
                tag["Value"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")


def start(quiet: bool = True) -> Emulator:
    """Start moto's server in-process and point this process's AWS clients at it; serve the hub's
    operator and rotation endpoints (REKEY_OPERATOR_URL, REKEY_ROTATION_URL), and let Secrets
    Manager rotate through rekey's relay (rekey_dev.rotation)."""
    os.environ.update(DUMMY_ENV)
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from . import rotation

    rotation.install()
    _list_moto_modules_once()
    _authorize_dynamodb_on_its_table()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = url
    endpoint = operator_endpoint().start()
    os.environ[OPERATOR_URL] = endpoint.url
    rotating = rotation_endpoint().start()
    os.environ[ROTATION_URL] = rotating.url
    return Emulator(url, server, endpoint, rotating)


def _list_moto_modules_once() -> None:
    """moto's server lists its own package directory (a stat per service, ~170) twice for every
    request it dispatches: a quarter of its time per request. The directory does not change while
    it runs: list it once."""
    from moto import backends

    if not hasattr(backends.list_of_moto_modules, "cache_info"):
        backends.list_of_moto_modules = functools.cache(lambda listed=backends.list_of_moto_modules: tuple(listed()))


def _authorize_dynamodb_on_its_table() -> None:
    """moto checks a DynamoDB call's identity policies against Resource "*" (it does so for SQS
    on the queue's ARN, as AWS does): with IAM enforced, a policy scoped to the hub's state
    table, as hub/template.yaml's are, would deny every call. Give it the table's ARN, as AWS
    evaluates it (BatchGetItem: its one table)."""
    from moto.dynamodb.responses import DynamoHandler

    def table_arn(self: Any) -> str:
        body = self.body if isinstance(self.body, dict) else json.loads(self.body or "{}")
        table = body.get("TableName") or next(iter(body.get("RequestItems") or {}), None)
        if not table:
            return "*"
        return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"

    DynamoHandler._determine_resource = table_arn


def operator_endpoint(
    role_name: str = HUB_WORKER_ROLE, environment: Callable[[], Mapping[str, str]] | None = None
) -> FunctionUrl:
    """The hub's operator function behind its URL, as the hub stack deploys it: the production
    handler (rekey.handlers.operator), run as the hub's worker role (the one role the member
    writer trusts), configured by `environment` (default: this process's, read per request)."""
    from rekey.handlers import operator

    function = Function(
        handler=operator.process,
        account_id=MANAGEMENT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{role_name}",
        name="rekey-hub-OperatorFunction",
        region=REGION,
        environment=environment or (lambda: dict(os.environ)),
        requires=operator.REQUIRES,
    )
    return FunctionUrl(function)


def rotation_endpoint(
    role_name: str = HUB_WORKER_ROLE, environment: Callable[[], Mapping[str, str]] | None = None
) -> FunctionUrl:
    """The hub's rotation function behind its URL, as the hub stack deploys it: the production
    handler (rekey.handlers.rotation, imported at its first request), run as the hub's worker role,
    configured by `environment` (default: this process's, read per request)."""
    process, requires = handler_module("rekey.handlers.rotation")
    function = Function(
        handler=process,
        account_id=MANAGEMENT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MANAGEMENT_ACCOUNT}:role/{role_name}",
        name="rekey-hub-RotationFunction",
        region=REGION,
        environment=environment or (lambda: dict(os.environ)),
        requires=requires,
    )
    return FunctionUrl(function)


@contextmanager
def running() -> Iterator[Emulator]:
    emulator = start()
    try:
        yield emulator
    finally:
        emulator.stop()


@dataclass(frozen=True)
class HubResources:
    work_queue_url: str
    work_dlq_url: str
    scan_queue_url: str
    scan_dlq_url: str
    topic_arn: str
    state_table: str

    def environment(self) -> dict[str, str]:
        return {
            "REKEY_STATE_TABLE": self.state_table,
            "REKEY_WORK_QUEUE_URL": self.work_queue_url,
            "REKEY_SCAN_QUEUE_URL": self.scan_queue_url,
            "REKEY_TOPIC_ARN": self.topic_arn,
            # The emulator has no rate to keep under (bench.due_account measures the pacing at IAM's).
            "REKEY_MEMBER_CALLS_PER_SECOND": "0",
        }


@dataclass(frozen=True)
class Organization:
    """An emulated organization: its id and its member accounts."""

    organization_id: str
    accounts: dict[str, str]  # member account name -> id


def create_organization(emulator: ClientSource, account_names: Iterable[str]) -> Organization:
    """An organization (moto's default account is its management account, where the hub runs)
    with one member account per name, e-mail `<name>@example.com`."""
    organizations = emulator.client("organizations")
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    accounts = {
        name: organizations.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"][
            "AccountId"
        ]
        for name in account_names
    }
    return Organization(organization_id, accounts)


def subscribe_queue(
    emulator: ClientSource, topic_arn: str, name: str, filter_policy: dict[str, Any] | None = None
) -> str:
    """A new queue subscribed to the topic with raw delivery (each message is a notification's
    JSON), receiving only what `filter_policy` matches if given; its URL."""
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    emulator.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def create_hub(
    emulator: ClientSource, *, max_receive_count: int | None = None, visibility_timeout: int | None = 30
) -> HubResources:
    """The hub's queues and topic, built from the definitions in hub/template.yaml (names, FIFO,
    content-based deduplication, DLQs and redrive). `max_receive_count` overrides the template's;
    `visibility_timeout` defaults to 30 s instead of the template's (6x a function timeout) so a
    failed message comes back quickly on a laptop; None keeps the template's."""
    from .templates import create_state_table, hub_queue_definitions

    definitions = hub_queue_definitions()
    sqs, sns = emulator.client("sqs"), emulator.client("sns")
    urls: dict[str, str] = {}
    for queue in definitions.queues():
        attributes = queue.attributes(visibility_timeout=visibility_timeout)
        if queue.dead_letter_queue:
            dlq_arn = sqs.get_queue_attributes(QueueUrl=urls[queue.dead_letter_queue], AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            receives = max_receive_count if max_receive_count is not None else queue.max_receive_count
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": receives})
        urls[queue.logical_id] = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
    return HubResources(
        work_queue_url=urls[definitions.work.logical_id],
        work_dlq_url=urls[definitions.work_dlq.logical_id],
        scan_queue_url=urls[definitions.scan.logical_id],
        scan_dlq_url=urls[definitions.scan_dlq.logical_id],
        topic_arn=sns.create_topic(Name=definitions.topic_name)["TopicArn"],
        state_table=create_state_table(emulator.client("dynamodb")),
    )


def create_digest_queue(emulator: Emulator, topic_arn: str) -> str:
    """The hub's digest queue, as hub/template.yaml declares it (name, visibility timeout,
    retention), subscribed to the topic with the template's filter policy; its URL."""
    from .templates import HUB_TEMPLATE, load_template, subscribe_digest_queue

    props = load_template(HUB_TEMPLATE)["Resources"]["DigestQueue"]["Properties"]
    attributes = {"VisibilityTimeout": str(props["VisibilityTimeout"])}
    if "MessageRetentionPeriod" in props:
        attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
    url = emulator.client("sqs").create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
    subscribe_digest_queue(emulator, topic_arn, url)
    return url
