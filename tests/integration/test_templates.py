"""The deployment templates, checked offline: linted, validated and built by SAM CLI, translated
by samtranslator and created on the emulator's CloudFormation; the spoke role created in member
accounts; the emulator's hub built from the same definitions as the SAM template."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rekey_dev import emulator as em
from rekey_dev import templates as t

from rekey.settings import ENVIRONMENT

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # moto skips alarms

TEMPLATES = [t.HUB_TEMPLATE, *sorted(t.SPOKE_TEMPLATES.glob("*.yaml"))]
FUNCTIONS = {
    "SweepFunction": "rekey.handlers.sweep.handler",
    "ScanFunction": "rekey.handlers.scan.handler",
    "WorkerFunction": "rekey.handlers.worker.handler",
    "DigestFunction": "rekey.handlers.digest.handler",
    "OperatorFunction": "rekey.handlers.operator.handler",
    "RotationFunction": "rekey.handlers.rotation.handler",
}


@functools.cache
def translated_hub() -> dict[str, Any]:
    return t.translate_hub()


def sam(*args: str, cwd: Path, app_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(t.tools_bin("sam")), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=t.tools_env(app_dir),
        timeout=timeout,
        check=False,
    )


# --------------------------------------------------------------------------- static checks


def test_every_template_passes_cfn_lint() -> None:
    assert len(TEMPLATES) == 5  # the hub, the spoke role, the StackSet, the example user, the org reader
    result = subprocess.run(  # one process for all: cfn-lint takes seconds to start
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *map(str, TEMPLATES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_accepts_the_hub_from_the_repository_root(tmp_path: Path) -> None:
    # No --template: samconfig.toml at the root names hub/template.yaml, as for a person.
    result = sam("validate", "--lint", "--region", "us-east-1", cwd=t.ROOT, app_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_makes_a_self_contained_package_for_every_function(tmp_path: Path) -> None:
    build = tmp_path / "build"
    result = sam(
        "build", "--build-dir", str(build), "--cache-dir", str(tmp_path / "cache"), cwd=t.ROOT, app_dir=tmp_path
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = t.load_template(build / "template.yaml")["Resources"]
    for name, handler in FUNCTIONS.items():
        assert built[name]["Properties"]["Handler"] == handler
        package = build / name
        # Import the handler with nothing but the standard library and the package on the path,
        # as Lambda's runtime would: every dependency must be inside the artifact.
        module = handler.rsplit(".", 1)[0]
        probe = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                "-c",
                f"import sys; sys.path.insert(0, {str(package)!r}); import {module} as m; "
                "import pydantic, aws_lambda_powertools, boto3; "
                f"assert callable(m.handler); print(pydantic.__file__)",
            ],
            capture_output=True,
            text=True,
            env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"},
            check=False,
        )
        assert probe.returncode == 0, probe.stderr[-3000:]
        assert probe.stdout.strip().startswith(str(package))  # from the artifact, not this machine
        # The artifact's own code is exactly what the handlers import: no CLI, no demo, no
        # emulator helpers, no operators' reports.
        packaged = {str(p.relative_to(package)) for p in (package / "rekey").rglob("*.py")}
        assert packaged == handlers_import_closure(), name


def handlers_import_closure() -> set[str]:
    """The rekey modules (as paths under the package root) the handlers import, found by
    importing them in a fresh interpreter."""
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib, rekey; "
            + "; ".join(f"import {handler.rsplit('.', 1)[0]}" for handler in FUNCTIONS.values())
            + "; root = pathlib.Path(rekey.__file__).parents[1]; "
            "print('\\n'.join(str(pathlib.Path(m.__file__).relative_to(root)) for n, m in sorted(sys.modules.items()) "
            "if n == 'rekey' or n.startswith('rekey.')))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"},
        check=True,
    )
    return set(probe.stdout.split())


def test_the_lambda_package_holds_only_what_the_handlers_import() -> None:
    """Every module of functions/lambda/rekey is imported by a handler (the CLI, the demo and the
    emulator helpers live in rekey_cli and rekey_dev, outside the Lambda artifact)."""
    source = t.ROOT / "functions" / "lambda"
    present = {str(p.relative_to(source)) for p in (source / "rekey").rglob("*.py")}
    assert present == handlers_import_closure()


def test_every_setting_the_code_reads_is_a_hub_parameter() -> None:
    template = t.load_template(t.HUB_TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    rekey_variables = {name for name in variables if name.startswith("REKEY_")}
    assert rekey_variables == set(ENVIRONMENT)
    assert variables["POWERTOOLS_SERVICE_NAME"] == "rekey"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "rekey"
    assert variables["LOG_LEVEL"] == {"Ref": "LogLevel"}
    # Everything but the resources the stack creates comes from a parameter.
    created = {
        "REKEY_WORK_QUEUE_URL",
        "REKEY_SCAN_QUEUE_URL",
        "REKEY_TOPIC_ARN",
        "REKEY_DIGEST_QUEUE_URL",
        "REKEY_STATE_TABLE",
    }
    for name in rekey_variables - created:
        refs = json.dumps(variables[name])
        assert '"Ref"' in refs and any(p in refs for p in template["Parameters"]), name


def test_functions_are_not_traced_and_log_to_groups_with_retention() -> None:
    # No X-Ray: the handlers carry no tracer (nor its SDK), so active tracing would only bill
    # Lambda's own segments. moto's Lambda ignores TracingConfig: checked on the translated template.
    resources = translated_hub()["Resources"]
    for name in FUNCTIONS:
        assert "TracingConfig" not in resources[name]["Properties"]
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: r["Properties"]["RetentionInDays"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert groups == {f"/aws/lambda/${{{name}}}": {"Ref": "LogRetentionDays"} for name in FUNCTIONS}


def test_alarms_watch_every_dead_letter_queue_and_every_function() -> None:
    # moto's CloudFormation skips AWS::CloudWatch::Alarm: checked on the translated template.
    resources = translated_hub()["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched_queues = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms if a["Namespace"] == "AWS/SQS"}
    watched_functions = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a["MetricName"] == "Errors"}
    assert watched_queues == {"ScanDeadLetterQueue", "WorkDeadLetterQueue"}
    assert watched_functions == set(FUNCTIONS)
    for alarm in alarms:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# --------------------------------------------------------------------------- the hub on CloudFormation


@pytest.fixture
def hub_stack(emulator: em.Emulator) -> dict[str, str]:
    emulator.reset()
    return t.deploy_hub_stack(
        emulator, translated_hub(), SweepSchedule="cron(30 4 * * ? *)", OrganizationId="o-exampleorgid"
    )


def test_the_translated_hub_creates_functions_queues_and_schedule(emulator: em.Emulator, hub_stack: dict) -> None:
    lam, sqs = emulator.client("lambda"), emulator.client("sqs")
    functions = {f["Handler"]: f for f in lam.list_functions()["Functions"]}
    assert set(functions) == set(FUNCTIONS.values())
    roles = {h: f["Role"].rsplit("/", 1)[1] for h, f in functions.items()}
    assert roles == {
        "rekey.handlers.sweep.handler": "rekey-hub-sweep",
        "rekey.handlers.scan.handler": "rekey-hub-scan",
        "rekey.handlers.worker.handler": "rekey-hub-worker",
        "rekey.handlers.digest.handler": "rekey-hub-digest",
        # Operators' requests act through the member writer: the worker's role, the one it trusts.
        "rekey.handlers.operator.handler": "rekey-hub-worker",
        # Secrets Manager's rotation steps too (the member accounts' relays post them).
        "rekey.handlers.rotation.handler": "rekey-hub-worker",
    }
    for function in functions.values():
        assert function["Runtime"] == "python3.11"
        env = function["Environment"]["Variables"]
        assert env["REKEY_WORK_QUEUE_URL"] == hub_stack["WorkQueueUrl"]
        assert env["REKEY_SCAN_QUEUE_URL"] == hub_stack["ScanQueueUrl"]
        assert env["REKEY_TOPIC_ARN"] == hub_stack["TopicArn"]
        assert env["REKEY_DIGEST_QUEUE_URL"] == hub_stack["DigestQueueUrl"]

    def attributes(url: str) -> dict[str, str]:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    queues = {
        name: attributes(hub_stack[key])
        for name, key in [
            ("scan", "ScanQueueUrl"),
            ("scan_dlq", "ScanDeadLetterQueueUrl"),
            ("work", "WorkQueueUrl"),
            ("work_dlq", "WorkDeadLetterQueueUrl"),
        ]
    }
    assert queues["work"]["FifoQueue"] == "true" and queues["work_dlq"]["FifoQueue"] == "true"
    assert queues["work"]["ContentBasedDeduplication"] == "true"
    for queue, dlq in [("scan", "scan_dlq"), ("work", "work_dlq")]:
        redrive = json.loads(queues[queue]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == queues[dlq]["QueueArn"]
        assert int(redrive["maxReceiveCount"]) == 3

    mappings = {m["FunctionArn"]: m for m in lam.list_event_source_mappings()["EventSourceMappings"]}
    by_handler = {h: mappings.get(f["FunctionArn"]) for h, f in functions.items()}
    scan = by_handler["rekey.handlers.scan.handler"]
    worker = by_handler["rekey.handlers.worker.handler"]
    assert by_handler["rekey.handlers.sweep.handler"] is None
    assert by_handler["rekey.handlers.digest.handler"] is None  # it empties its queue itself, once a day
    assert by_handler["rekey.handlers.operator.handler"] is None  # its URL is its only way in
    assert by_handler["rekey.handlers.rotation.handler"] is None  # so is this one's
    assert scan["EventSourceArn"] == queues["scan"]["QueueArn"]
    assert worker["EventSourceArn"] == queues["work"]["QueueArn"]
    for mapping in (scan, worker):
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] >= 2
    assert worker["BatchSize"] == 10 and scan["BatchSize"] == 1

    # Lambda's guidance: a queue's visibility timeout is at least 6x its consumer's timeout.
    for handler, queue in [("rekey.handlers.scan.handler", "scan"), ("rekey.handlers.worker.handler", "work")]:
        assert int(queues[queue]["VisibilityTimeout"]) >= 6 * functions[handler]["Timeout"]

    events = emulator.client("events")
    schedules = {
        target["Arn"]: rule["ScheduleExpression"]
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    }
    assert schedules == {
        functions["rekey.handlers.sweep.handler"]["FunctionArn"]: "cron(30 4 * * ? *)",
        functions["rekey.handlers.digest.handler"]["FunctionArn"]: "cron(0 10 * * ? *)",
    }

    topic = emulator.client("sns").get_topic_attributes(TopicArn=hub_stack["TopicArn"])["Attributes"]
    assert topic.get("KmsMasterKeyId")  # encrypted with the stack's key
    for queue in queues.values():  # SSE-SQS when HubKmsKeyArn names no key
        assert "KmsMasterKeyId" not in queue

    # No two sweeps or digests at once (a digest invoked by hand during the day's is refused, not
    # split); operators' requests at most 5 at once, rotation steps 20; scan and worker bounded by
    # their event source.
    reserved = {
        handler: lam.get_function_concurrency(FunctionName=f["FunctionName"]).get("ReservedConcurrentExecutions")
        for handler, f in functions.items()
    }
    assert reserved == {
        "rekey.handlers.sweep.handler": 1,
        "rekey.handlers.digest.handler": 1,
        "rekey.handlers.operator.handler": 5,
        "rekey.handlers.rotation.handler": 20,
        "rekey.handlers.scan.handler": None,
        "rekey.handlers.worker.handler": None,
    }


def test_with_a_kms_key_the_queues_use_it_and_the_roles_may(emulator: em.Emulator) -> None:
    """HubKmsKeyArn: the five queues (and the log groups, which moto's CloudFormation does not
    encrypt: checked on the translated template) use the customer managed key; ReserveConcurrency
    false reserves nothing."""
    emulator.reset()
    key = f"arn:aws:kms:{em.REGION}:{em.MANAGEMENT_ACCOUNT}:key/0b3f1b9e-5a6f-4c1e-9a7e-1234567890ab"
    outputs = t.deploy_hub_stack(
        emulator, translated_hub(), OrganizationId="o-exampleorgid", HubKmsKeyArn=key, ReserveConcurrency="false"
    )
    sqs, lam, iam = emulator.client("sqs"), emulator.client("lambda"), emulator.client("iam")
    for name in ("Scan", "ScanDeadLetter", "Work", "WorkDeadLetter", "Digest"):
        attributes = sqs.get_queue_attributes(QueueUrl=outputs[f"{name}QueueUrl"], AttributeNames=["All"])
        assert attributes["Attributes"]["KmsMasterKeyId"] == key, name
    for function in lam.list_functions()["Functions"]:
        assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=function["FunctionName"])
    policies = {
        role: iam.list_role_policies(RoleName=f"rekey-hub-{role}")["PolicyNames"]
        for role in ("sweep", "scan", "worker", "digest")
    }
    assert policies == {
        "sweep": ["rekey-sweep", "rekey-hub-kms-send"],
        "scan": ["rekey-scan", "rekey-hub-kms-send"],
        "worker": ["rekey-worker", "rekey-hub-kms-receive"],
        "digest": ["rekey-digest", "rekey-hub-kms-receive"],
    }
    emulator.reset()

    resources = translated_hub()["Resources"]
    with_key_or_not = {"Fn::If": ["HasHubKmsKey", {"Ref": "HubKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    queues = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SQS::Queue"]
    groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(queues) == 5 and len(groups) == len(FUNCTIONS)
    for queue in queues:
        assert queue["KmsMasterKeyId"] == with_key_or_not
        assert queue["SqsManagedSseEnabled"] == {"Fn::If": ["HasHubKmsKey", {"Ref": "AWS::NoValue"}, True]}
    for group in groups:
        assert group["KmsKeyId"] == with_key_or_not


def test_the_emulator_hub_is_the_deployed_hub(emulator: em.Emulator, hub_stack: dict) -> None:
    """create_hub (used by every emulated test and the demo) builds what the template deploys,
    but for the shorter visibility timeout it chooses for laptops."""
    sqs = emulator.client("sqs")
    deployed = {
        key: sqs.get_queue_attributes(QueueUrl=hub_stack[key], AttributeNames=["All"])["Attributes"]
        for key in ("ScanQueueUrl", "ScanDeadLetterQueueUrl", "WorkQueueUrl", "WorkDeadLetterQueueUrl")
    }
    emulator.reset()  # the same queue names again, from create_hub
    hub = em.create_hub(emulator, visibility_timeout=None)
    local = {
        "ScanQueueUrl": hub.scan_queue_url,
        "ScanDeadLetterQueueUrl": hub.scan_dlq_url,
        "WorkQueueUrl": hub.work_queue_url,
        "WorkDeadLetterQueueUrl": hub.work_dlq_url,
    }
    compared = ("QueueArn", "FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "RedrivePolicy")
    for key, url in local.items():
        mine = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        for attribute in compared:
            theirs = deployed[key].get(attribute)
            if attribute == "RedrivePolicy" and theirs:
                assert json.loads(mine[attribute]) == {
                    k: (int(v) if k == "maxReceiveCount" else v) for k, v in json.loads(theirs).items()
                }
            else:
                assert mine.get(attribute) == theirs, (key, attribute)
    assert hub.topic_arn == hub_stack["TopicArn"]


# --------------------------------------------------------------------------- member accounts


def test_the_spoke_roles_deploy_into_every_member_account(org: Any) -> None:
    organization_id = org.emulator.client("organizations").describe_organization()["Organization"]["Id"]
    hub_roles = {
        name: t.load_template(t.HUB_TEMPLATE)["Resources"][name]["Properties"]["RoleName"]
        for name in ("ScanRole", "WorkerRole")
    }
    assert hub_roles == {
        "ScanRole": {"Fn::Sub": "${RoleNamePrefix}scan"},
        "WorkerRole": {"Fn::Sub": "${RoleNamePrefix}worker"},
    }
    for account_id in org.accounts.values():
        arn = t.deploy_spoke_role(
            org.emulator, account_id, hub_account_id=em.MANAGEMENT_ACCOUNT, organization_id=organization_id
        )
        assert arn == f"arn:aws:iam::{account_id}:role/rekey-spoke"  # the writer
        iam = org.client("iam", account_id)
        for role, function in (("rekey-spoke-reader", "scan"), ("rekey-spoke", "worker")):
            (statement,) = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]
            assert statement["Principal"] == {"AWS": f"arn:aws:iam::{em.MANAGEMENT_ACCOUNT}:role/rekey-hub-{function}"}
            assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id}}


def test_the_stackset_passes_every_spoke_parameter_through() -> None:
    spoke = t.load_template(t.SPOKE_ROLE_TEMPLATE)["Parameters"]
    wrapper = t.load_template(t.SPOKE_TEMPLATES / "stackset.yaml")
    stackset = wrapper["Resources"]["SpokeStackSet"]["Properties"]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stackset["Parameters"]}
    assert passed == {name: {"Ref": name} for name in spoke}
    for name in spoke:  # same defaults, so leaving one out means the same thing in both
        assert wrapper["Parameters"][name].get("Default") == spoke[name].get("Default"), name
    assert stackset["PermissionModel"] == "SERVICE_MANAGED"
    assert stackset["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stackset["StackInstancesGroup"][0]["DeploymentTargets"] == {
        "OrganizationalUnitIds": {"Ref": "TargetOrganizationalUnitIds"}
    }
    assert stackset["Capabilities"] == ["CAPABILITY_NAMED_IAM"]


def test_the_hub_and_spoke_defaults_agree() -> None:
    hub = t.load_template(t.HUB_TEMPLATE)["Parameters"]
    spoke = t.load_template(t.SPOKE_ROLE_TEMPLATE)["Parameters"]
    assert hub["SpokeRoleName"]["Default"] == spoke["SpokeRoleName"]["Default"]
    assert hub["SpokeReaderRoleName"]["Default"] == spoke["SpokeReaderRoleName"]["Default"]
    # What the hub's outputs tell the StackSet is what the StackSet takes.
    outputs = t.load_template(t.HUB_TEMPLATE)["Outputs"]
    for name in ("SpokeRoleName", "SpokeReaderRoleName", "OrganizationId", "TagKey"):
        assert outputs[name]["Value"] == {"Ref": name} and name in spoke
    assert hub["TagKey"]["Default"] == spoke["TagKey"]["Default"]
    assert hub["RoleNamePrefix"]["Default"] == spoke["HubRoleNamePrefix"]["Default"]
    assert hub["SecretName"]["Default"].split("{", 1)[0] == spoke["SecretNamePrefix"]["Default"]


def test_a_user_from_the_example_template_is_in_scope_of_the_next_sweep(org: Any, runtime: Any) -> None:
    from rekey.use_cases.sweep import sweep

    account_id = org.accounts["payments"]
    cfn = org.client("cloudformation", account_id)
    cfn.create_stack(
        StackName="team-billing-user",
        TemplateBody=(t.SPOKE_TEMPLATES / "example-opted-in-user.yaml").read_text(),
        Parameters=[{"ParameterKey": "UserName", "ParameterValue": "billing-exporter"}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    assert t._wait(cfn, "team-billing-user")["StackStatus"] == "CREATE_COMPLETE"
    iam = org.client("iam", account_id)
    # moto's CloudFormation drops AWS::IAM::User tags: apply the template's, as AWS would.
    template = t.load_template(t.SPOKE_TEMPLATES / "example-opted-in-user.yaml")
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    tags = [
        {"Key": tag["Key"], "Value": defaults[tag["Value"]["Ref"]] if isinstance(tag["Value"], dict) else tag["Value"]}
        for tag in template["Resources"]["User"]["Properties"]["Tags"]
    ]
    assert {"Key": "rekey:rotate", "Value": "true"} in tags
    iam.tag_user(UserName="billing-exporter", Tags=tags)
    iam.create_access_key(UserName="billing-exporter")
    org.age(61, ("payments",))  # the example opts into a 60-day rotation

    result = sweep(runtime, "s-example", dry_run=True)

    (payments,) = [a for a in result.accounts if a.account_id == account_id]
    assert [(i.user_name, i.action.value) for i in payments.items] == [("billing-exporter", "rotate")]


def test_the_hub_roles_reach_the_state_table_only_with_the_calls_its_adapter_makes() -> None:
    from rekey.adapters.hub_state import PERMISSIONS

    resources = t.load_template(t.HUB_TEMPLATE)["Resources"]
    granted: dict[str, set[str]] = {}
    for role in ("SweepRole", "ScanRole", "WorkerRole", "DigestRole"):
        for policy in resources[role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if statement.get("Resource") == {"Fn::GetAtt": ["StateTable", "Arn"]}:
                    actions = statement["Action"]
                    granted.setdefault(role, set()).update([actions] if isinstance(actions, str) else actions)
    assert set().union(*granted.values()) <= set(PERMISSIONS["hub_state"])
    # The worker (and the operator function, its role) counts, halts and resumes; the sweep moves
    # the waves; the scan only reads; the digest never touches it.
    assert granted == {
        "WorkerRole": set(PERMISSIONS["hub_state"]),
        "SweepRole": {"dynamodb:BatchGetItem", "dynamodb:PutItem"},
        "ScanRole": {"dynamodb:BatchGetItem"},
    }
