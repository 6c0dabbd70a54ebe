"""The deployment templates, read by the local emulator and the tests.

`hub/template.yaml` and `spoke_templates/*.yaml` are the single source of what gets deployed:
the emulator's hub queues and the member accounts' spoke role are built from them, so the
tests exercise what AWS would run, not a copy of it."""

from __future__ import annotations

import copy
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def _root() -> Path:
    """A clone of the repository (functions/dev/rekey_dev/ lies three levels below it), or the
    templates an installed rekey carries under <prefix>/share/rekey."""
    clone = Path(__file__).resolve().parents[3]
    if (clone / "hub" / "template.yaml").is_file():
        return clone
    return Path(sys.prefix) / "share" / "rekey"


ROOT = _root()
HUB_TEMPLATE = ROOT / "hub" / "template.yaml"
SPOKE_TEMPLATES = ROOT / "spoke_templates"
SPOKE_ROLE_TEMPLATE = SPOKE_TEMPLATES / "spoke-role.yaml"
SPOKE_STACK_NAME = "rekey-spoke"


# --------------------------------------------------------------------------- loading


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !GetAtt ...) as their long forms."""


def _intrinsic(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path | str) -> dict[str, Any]:
    """A CloudFormation/SAM YAML template as plain data (intrinsics in their long form): a copy
    of its own for each caller, parsed once per content (the hub template takes ~0.1 s to parse,
    and every emulated organization reads it)."""
    return copy.deepcopy(_parse(Path(path).read_text()))


@functools.lru_cache(maxsize=16)
def _parse(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=_CfnLoader)  # a SafeLoader subclass


# --------------------------------------------------------------------------- hub definitions


@dataclass(frozen=True)
class QueueDefinition:
    """One SQS queue of the hub template, as the emulator needs it."""

    logical_id: str
    name: str
    fifo: bool
    visibility_timeout: int
    content_based_deduplication: bool
    message_retention_period: int | None
    dead_letter_queue: str | None  # logical id of the queue's DLQ
    max_receive_count: int | None

    def attributes(self, *, visibility_timeout: int | None = None) -> dict[str, str]:
        """CreateQueue attributes, without the redrive policy (it needs the DLQ's ARN)."""
        attributes = {"VisibilityTimeout": str(visibility_timeout or self.visibility_timeout)}
        if self.fifo:
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = str(self.content_based_deduplication).lower()
        if self.message_retention_period:
            attributes["MessageRetentionPeriod"] = str(self.message_retention_period)
        return attributes


@dataclass(frozen=True)
class HubDefinitions:
    scan: QueueDefinition
    scan_dlq: QueueDefinition
    work: QueueDefinition
    work_dlq: QueueDefinition
    topic_name: str

    def queues(self) -> list[QueueDefinition]:
        """Dead-letter queues first (the others' redrive policies name them)."""
        return [self.scan_dlq, self.work_dlq, self.scan, self.work]


def _queue(logical_id: str, resource: dict[str, Any]) -> QueueDefinition:
    if resource.get("Type") != "AWS::SQS::Queue":
        raise ValueError(f"{HUB_TEMPLATE}: {logical_id} is not an AWS::SQS::Queue")
    props = resource["Properties"]
    redrive = props.get("RedrivePolicy") or {}
    target = redrive.get("deadLetterTargetArn")
    dlq = target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None
    return QueueDefinition(
        logical_id=logical_id,
        name=props["QueueName"],
        fifo=bool(props.get("FifoQueue", False)),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        content_based_deduplication=bool(props.get("ContentBasedDeduplication", False)),
        message_retention_period=int(props["MessageRetentionPeriod"]) if "MessageRetentionPeriod" in props else None,
        dead_letter_queue=dlq,
        max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
    )


def hub_queue_definitions(template: Path | str = HUB_TEMPLATE) -> HubDefinitions:
    """The hub's queues and topic as declared in hub/template.yaml."""
    resources = load_template(template)["Resources"]
    return HubDefinitions(
        scan=_queue("ScanQueue", resources["ScanQueue"]),
        scan_dlq=_queue("ScanDeadLetterQueue", resources["ScanDeadLetterQueue"]),
        work=_queue("WorkQueue", resources["WorkQueue"]),
        work_dlq=_queue("WorkDeadLetterQueue", resources["WorkDeadLetterQueue"]),
        topic_name=resources["Topic"]["Properties"]["TopicName"],
    )


def create_state_table(client: Any, name: str | None = None, template: Path | str = HUB_TEMPLATE) -> str:
    """The hub's state table as hub/template.yaml declares it (key schema, billing, time to
    live), named `name` or as declared; its name."""
    props = load_template(template)["Resources"]["StateTable"]["Properties"]
    table = name or props["TableName"]
    client.create_table(
        TableName=table,
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        BillingMode=props["BillingMode"],
    )
    client.update_time_to_live(TableName=table, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    return table


def digest_subscription(template: Path | str = HUB_TEMPLATE) -> dict[str, str]:
    """The attributes of the digest queue's subscription to the topic, as the template
    declares them (the emulator's CloudFormation skips AWS::SNS::Subscription)."""
    props = load_template(template)["Resources"]["DigestSubscription"]["Properties"]
    return {
        "FilterPolicy": json.dumps(props["FilterPolicy"]),
        "RawMessageDelivery": str(props.get("RawMessageDelivery", False)).lower(),
    }


def subscribe_digest_queue(emulator: Any, topic_arn: str, queue_url: str) -> None:
    """Subscribe the digest queue to the topic as hub/template.yaml does."""
    sqs = emulator.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emulator.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=digest_subscription())


# --------------------------------------------------------------------------- spoke role


def deploy_spoke_role(
    emulator: Any, account_id: str, *, hub_account_id: str, organization_id: str, **params: str
) -> str:
    """Create spoke_templates/spoke-role.yaml (the reader and writer roles) as a stack in member
    account `account_id` (through the emulator's CloudFormation, as the StackSet would) and
    return the writer role's ARN. `params` are further template parameters, e.g.
    TagKey="team:rotate"."""
    from .authz import _inline_policies_as_json

    cfn = emulator.account_client("cloudformation", account_id)
    parameters = {"HubAccountId": hub_account_id, "OrganizationId": organization_id, **params}
    cfn.create_stack(
        StackName=SPOKE_STACK_NAME,
        TemplateBody=SPOKE_ROLE_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = _wait(cfn, SPOKE_STACK_NAME)
    _inline_policies_as_json()  # moto keeps a YAML policy document as a dict (and returns its repr)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return outputs["SpokeRoleArn"]


def _wait(cfn: Any, stack_name: str) -> dict[str, Any]:
    """The stack once it leaves *_IN_PROGRESS (moto creates synchronously; AWS does not)."""
    import time

    for _ in range(600):
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            if status != "CREATE_COMPLETE":
                events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
                reasons = [
                    f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                    for e in events
                    if e.get("ResourceStatusReason")
                ]
                raise RuntimeError(f"stack {stack_name}: {status}: {json.dumps(reasons[:5])}")
            return stack
        time.sleep(0.1)
    raise TimeoutError(f"stack {stack_name} still in progress")


# --------------------------------------------------------------------------- SAM tools and the hub stack

TOOLS_VENV = ROOT / ".tools" / "sam"
HUB_STACK_NAME = "rekey-hub"
REGION = "us-east-1"  # the emulator's (rekey_dev.emulator.REGION)
ARTIFACT_BUCKET = "rekey-artifacts"
ARTIFACT_KEY = "functions.zip"


def tools_bin(name: str) -> Path:
    """A program of the SAM tools venv (`make tools` creates it)."""
    path = TOOLS_VENV / "bin" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make tools` (aws-sam-cli in its own venv)")
    return path


def tools_env(app_dir: Path | str | None = None) -> dict[str, str]:
    """The environment for SAM CLI: no telemetry, nothing pointing at an emulator or an account."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV"))}
    env.update({"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"})
    if app_dir is not None:
        env["__SAM_CLI_APP_DIR"] = str(app_dir)  # SAM's settings/cache dir, instead of ~/.aws-sam
    return env


def translate_hub(template: Path | str = HUB_TEMPLATE, *, code_uri: str | None = None) -> dict[str, Any]:
    """hub/template.yaml translated to plain CloudFormation by samtranslator, offline. It runs
    in the tools venv (aws-sam-translator's pydantic pin differs from the app's)."""
    import subprocess

    uri = code_uri or f"s3://{ARTIFACT_BUCKET}/{ARTIFACT_KEY}"
    result = subprocess.run(
        [str(tools_bin("python")), str(ROOT / "tools" / "sam_translate.py"), str(template), "--code-uri", uri],
        capture_output=True,
        text=True,
        env=tools_env(),
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"SAM translation failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout)


def _function_urls(translated: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without its AWS::Lambda::Url resources and the outputs naming them (moto's
    CloudFormation has none: the emulator plays them, rekey_dev.function_url), and, by output
    name, the logical id of the function each URL served."""
    resources = translated["Resources"]
    urls = {
        name: resource["Properties"]["TargetFunctionArn"]["Ref"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Url"
    }
    outputs = {}
    kept = {}
    for name, output in translated.get("Outputs", {}).items():
        target = output["Value"].get("Fn::GetAtt", [None])[0] if isinstance(output["Value"], dict) else None
        if target in urls:
            outputs[name] = urls[target]
        else:
            kept[name] = output
    template = {
        **translated,
        "Resources": {n: r for n, r in resources.items() if n not in urls},
        "Outputs": kept,
    }
    return template, outputs


def deploy_hub_stack(
    emulator: Any, translated: dict[str, Any], *, code: bytes | None = None, **params: str
) -> dict[str, str]:
    """Create the translated hub template as a stack in the emulator's management account, as
    `sam deploy` would after `sam package`; returns the stack's outputs. `code` is the functions'
    zip (any bytes: the emulator never runs them, but it serves their function URLs itself:
    each such output is the URL of the deployed function, run in-process)."""
    import io
    import zipfile

    from .function_url import deployed_function

    translated, url_outputs = _function_urls(translated)

    if code is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("rekey/__init__.py", "")
        code = buffer.getvalue()
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=code)
    cfn = emulator.client("cloudformation")
    cfn.create_stack(
        StackName=HUB_STACK_NAME,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = _wait(cfn, HUB_STACK_NAME)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # moto's DescribeStackResource fails on a stack with skipped resources: list them instead.
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=HUB_STACK_NAME)["StackResourceSummaries"]
    }
    for output, function in url_outputs.items():
        name = physical[function]
        configuration = emulator.client("lambda").get_function_configuration(FunctionName=name)
        outputs[output] = emulator.serve_function_url(deployed_function(configuration, region=REGION))
    return outputs
