"""The guard against the public catalogues' own cases, offline (issue 27). Each case restates
what its catalogue names: the actions of the policy it gives the attacker, on every resource
unless said otherwise. Restated, not copied (the workplace keeps fetched repositories' files out
of commits); sources:

- BishopFox iam-vulnerable (MIT), commit 0f298666f9b7cfa01488b86912afdb211773188a:
  modules/free-resources/privesc-paths/*.tf (the privesc paths), tool-testing/*.tf (fn: false
  negatives of analysers, which must be refused; fp: false positives, which need not be);
- prowler (Apache-2.0), commit 02a5ce899e217a712b1c9b9175a57efc1bc2876c:
  prowler/providers/aws/services/iam/lib/privilege_escalation.py,
  privilege_escalation_policies_combination;
- Rhino Security Labs' 21 methods (BSD-3-Clause, RhinoSecurityLabs/AWS-IAM-Privilege-Escalation
  at 9ea10d3) are cloudsplaining's first 21, checked from the judge's own copy in
  tests/integration/test_privilege_judges.py."""

from __future__ import annotations

import pytest

from rekey.domain.privilege import Grants, Guard, PolicyDoc, Role, powerful, refusal

ACCOUNT = "111122223333"
USER = f"arn:aws:iam::{ACCOUNT}:user/privesc-user"


def allow(*actions: str, resource: str = "*") -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


# iam-vulnerable's privesc paths: the policy each path's user holds.
IAM_VULNERABLE = {
    "privesc1-CreateNewPolicyVersion": allow("iam:CreatePolicyVersion"),
    "privesc2-SetExistingDefaultPolicyVersion": allow("iam:SetDefaultPolicyVersion"),
    "privesc3-CreateEC2WithExistingIP": allow(
        "iam:PassRole",
        "ec2:DescribeInstances",
        "ec2:RunInstances",
        "ec2:CreateKeyPair",
        "ec2:AssociateIamInstanceProfile",
    ),
    "privesc4-CreateAccessKey": allow("iam:CreateAccessKey"),
    "privesc5-CreateLoginProfile": allow("iam:CreateLoginProfile"),
    "privesc6-UpdateLoginProfile": allow("iam:UpdateLoginProfile"),
    "privesc7-AttachUserPolicy": allow("iam:AttachUserPolicy"),
    "privesc8-AttachGroupPolicy": allow("iam:AttachGroupPolicy"),
    "privesc9-AttachRolePolicy": allow("iam:AttachRolePolicy"),
    "privesc10-PutUserPolicy": allow("iam:PutUserPolicy"),
    "privesc11-PutGroupPolicy": allow("iam:PutGroupPolicy"),
    "privesc12-PutRolePolicy": allow("iam:PutRolePolicy"),
    "privesc13-AddUserToGroup": allow("iam:AddUserToGroup"),
    "privesc14-UpdatingAssumeRolePolicy": allow("iam:UpdateAssumeRolePolicy", "sts:AssumeRole"),
    "privesc15-PassExistingRoleToNewLambdaThenInvoke": allow(
        "iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"
    ),
    "privesc16-PassRoleToNewLambdaThenTriggerWithNewDynamo": allow(
        "lambda:CreateFunction", "iam:PassRole", "lambda:CreateEventSourceMapping"
    ),
    "privesc17-EditExistingLambdaFunctionWithRole": allow(
        "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration"
    ),
    "privesc18-PassExistingRoleToNewGlueDevEndpoint": allow(
        "glue:CreateDevEndpoint", "glue:GetDevEndpoint", "iam:PassRole"
    ),
    "privesc19-UpdateExistingGlueDevEndpoint": allow("glue:UpdateDevEndpoint", "glue:GetDevEndpoint"),
    "privesc20-PassExistingRoleToCloudFormation": allow(
        "iam:PassRole", "cloudformation:CreateStack", "cloudformation:DescribeStacks"
    ),
    "privesc21-PassExistingRoleToNewDataPipeline": {
        "Statement": [
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "datapipeline:CreatePipeline",
                    "datapipeline:PutPipelineDefinition",
                    "datapipeline:ActivatePipeline",
                ],
                "Resource": "*",
            },
        ]
    },
    "privesc-cloudFormationUpdateStack": allow("cloudformation:UpdateStack", "cloudformation:DescribeStacks"),
    "privesc-codeBuildCreateProjectPassRole": allow(
        "codebuild:CreateProject", "codebuild:StartBuild", "codebuild:StartBuildBatch", "iam:PassRole", "iam:ListRoles"
    ),
    "privesc-ec2InstanceConnect": allow(
        "ec2:DescribeInstances",
        "ec2-instance-connect:SendSSHPublicKey",
        "ec2-instance-connect:SendSerialConsoleSSHPublicKey",
    ),
    "privesc-sageMakerCreateNotebookPassRole": allow(
        "sagemaker:CreateNotebookInstance",
        "sagemaker:CreatePresignedNotebookInstanceUrl",
        "sagemaker:ListNotebookInstances",
        "sagemaker:DescribeNotebookInstance",
        "sagemaker:StopNotebookInstance",
        "sagemaker:DeleteNotebookInstance",
        "iam:PassRole",
        "iam:ListRoles",
    ),
    "privesc-sageMakerCreatePresignedNotebookURL": allow(
        "sagemaker:CreatePresignedNotebookInstanceUrl", "sagemaker:ListNotebookInstances"
    ),
    "privesc-sageMakerCreateProcessingJob": allow("sagemaker:CreateProcessingJob", "iam:PassRole"),
    "privesc-sageMakerCreateTrainingJob": allow("sagemaker:CreateTrainingJob", "iam:PassRole"),
    "privesc-ssmSendCommand": allow(
        "ec2:DescribeInstances", "ssm:listCommands", "ssm:listCommandInvocations", "ssm:sendCommand"
    ),
    "privesc-ssmStartSession": allow(
        "ec2:DescribeInstances",
        "ssm:StartSession",
        "ssm:DescribeSessions",
        "ssm:GetConnectionStatus",
        "ssm:DescribeInstanceProperties",
        "ssm:TerminateSession",
        "ssm:ResumeSession",
    ),
    # tool-testing: what analysers miss (fn1 is two policies: see the split test).
    "fn2-ExploitableResourceConstraint": allow("iam:CreatePolicyVersion", resource="arn:aws:iam::*:policy/fn2-*"),
    "fn3-ExploitableConditionConstraint": {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iam:CreatePolicyVersion",
                "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
            }
        ]
    },
    "fn4-ExploitableNotAction": {
        "Statement": [{"Effect": "Allow", "NotAction": ["iam:Update*", "iam:Create*", "iam:Attach*"], "Resource": "*"}]
    },
}

# iam-vulnerable's false positives: not exploitable, and rekey lets them rotate, but for fp5.
IAM_VULNERABLE_NOT_EXPLOITABLE = {
    "fp1-allow-and-deny-same-policy": [
        {
            "Statement": [
                {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            ]
        }
    ],
    "fp2-allow-and-deny-multiple-policies": [
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]},
    ],
    "fp3-deny": [{"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]}],
    "fp4-NonExploitableResourceConstraint": [
        allow("iam:CreatePolicyVersion", resource="arn:aws:iam::aws:policy/fp4-*")
    ],
}
# Deliberate disagreement: a condition is not credited (rekey cannot evaluate it for every
# request it may be met on), so fp5's never-true DateLessThan still counts. Refused.
FP5 = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "iam:CreatePolicyVersion",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
        }
    ]
}

# prowler's combinations (the read prerequisites included, as prowler lists them).
PROWLER = {
    "OverPermissiveIAM": ["iam:*"],
    "IAMPut": ["iam:Put*"],
    "CreatePolicyVersion": ["iam:CreatePolicyVersion"],
    "SetDefaultPolicyVersion": ["iam:SetDefaultPolicyVersion"],
    "iam:CreateAccessKey": ["iam:CreateAccessKey"],
    "iam:CreateLoginProfile": ["iam:CreateLoginProfile"],
    "iam:UpdateLoginProfile": ["iam:UpdateLoginProfile"],
    "iam:AttachUserPolicy": ["iam:AttachUserPolicy"],
    "iam:AttachGroupPolicy": ["iam:AttachGroupPolicy"],
    "iam:AttachRolePolicy": ["iam:AttachRolePolicy"],
    "iam:PutGroupPolicy": ["iam:PutGroupPolicy"],
    "iam:PutRolePolicy": ["iam:PutRolePolicy"],
    "iam:PutUserPolicy": ["iam:PutUserPolicy"],
    "iam:AddUserToGroup": ["iam:AddUserToGroup"],
    "iam:UpdateAssumeRolePolicy": ["iam:UpdateAssumeRolePolicy"],
    "CreateAccessKey+DeleteAccessKey": ["iam:CreateAccessKey", "iam:DeleteAccessKey"],
    "AttachUserPolicy+CreateAccessKey": ["iam:AttachUserPolicy", "iam:CreateAccessKey"],
    "PutUserPolicy+CreateAccessKey": ["iam:PutUserPolicy", "iam:CreateAccessKey"],
    "AttachRolePolicy+UpdateAssumeRolePolicy": ["iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"],
    "CreatePolicyVersion+UpdateAssumeRolePolicy": ["iam:CreatePolicyVersion", "iam:UpdateAssumeRolePolicy"],
    "PutRolePolicy+UpdateAssumeRolePolicy": ["iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"],
    "AssumeRole+AttachRolePolicy": ["sts:AssumeRole", "iam:AttachRolePolicy"],
    "AssumeRole+PutRolePolicy": ["sts:AssumeRole", "iam:PutRolePolicy"],
    "AssumeRole+UpdateAssumeRolePolicy": ["sts:AssumeRole", "iam:UpdateAssumeRolePolicy"],
    "AssumeRole+CreatePolicyVersion": ["sts:AssumeRole", "iam:CreatePolicyVersion"],
    "PassRole+EC2": ["iam:PassRole", "ec2:RunInstances"],
    "PassRole+EC2SpotInstances": ["iam:PassRole", "ec2:RequestSpotInstances"],
    "EC2ModifyInstanceAttribute": ["ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"],
    "EC2ModifyLaunchTemplate": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
    "EC2InstanceConnect+SendSSHPublicKey": ["ec2-instance-connect:SendSSHPublicKey", "ec2:DescribeInstances"],
    "PassRole+CreateLambda+Invoke": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
    "PassRole+CreateLambda+ExistingDynamo": [
        "iam:PassRole",
        "lambda:CreateFunction",
        "lambda:CreateEventSourceMapping",
    ],
    "PassRole+CreateLambda+NewDynamo": [
        "iam:PassRole",
        "lambda:CreateFunction",
        "lambda:CreateEventSourceMapping",
        "dynamodb:CreateTable",
        "dynamodb:PutItem",
    ],
    "PassRole+CreateLambda+AddPermission": ["iam:PassRole", "lambda:CreateFunction", "lambda:AddPermission"],
    "lambda:UpdateFunctionCode": ["lambda:UpdateFunctionCode"],
    "lambda:UpdateFunctionConfiguration": ["lambda:UpdateFunctionConfiguration"],
    "UpdateFunctionCode+InvokeFunction": ["lambda:UpdateFunctionCode", "lambda:InvokeFunction"],
    "UpdateFunctionCode+AddPermission": ["lambda:UpdateFunctionCode", "lambda:AddPermission"],
    "PassRole+GlueCreateDevEndpoint": ["iam:PassRole", "glue:CreateDevEndpoint"],
    "GlueUpdateDevEndpoint": ["glue:UpdateDevEndpoint"],
    "PassRole+GlueCreateJob+StartJobRun": ["iam:PassRole", "glue:CreateJob", "glue:StartJobRun"],
    "PassRole+GlueCreateJob+CreateTrigger": ["iam:PassRole", "glue:CreateJob", "glue:CreateTrigger"],
    "PassRole+GlueUpdateJob+StartJobRun": ["iam:PassRole", "glue:UpdateJob", "glue:StartJobRun"],
    "PassRole+GlueUpdateJob+CreateTrigger": ["iam:PassRole", "glue:UpdateJob", "glue:CreateTrigger"],
    "PassRole+CloudFormationCreateStack": ["iam:PassRole", "cloudformation:CreateStack"],
    "CloudFormationUpdateStack": ["cloudformation:UpdateStack"],
    "PassRole+CloudFormationCreateStackSet": [
        "iam:PassRole",
        "cloudformation:CreateStackSet",
        "cloudformation:CreateStackInstances",
    ],
    "PassRole+CloudFormationUpdateStackSet": ["iam:PassRole", "cloudformation:UpdateStackSet"],
    "CloudFormationChangeSet": ["cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"],
    "PassRole+DataPipeline": [
        "iam:PassRole",
        "datapipeline:CreatePipeline",
        "datapipeline:PutPipelineDefinition",
        "datapipeline:ActivatePipeline",
    ],
    "PassRole+CodeStar": ["iam:PassRole", "codestar:CreateProject"],
    "PassRole+CodeBuildCreateProject+StartBuild": ["iam:PassRole", "codebuild:CreateProject", "codebuild:StartBuild"],
    "PassRole+CodeBuildCreateProject+StartBuildBatch": [
        "iam:PassRole",
        "codebuild:CreateProject",
        "codebuild:StartBuildBatch",
    ],
    "CodeBuildStartBuild": ["codebuild:StartBuild"],
    "CodeBuildStartBuildBatch": ["codebuild:StartBuildBatch"],
    "PassRole+CreateAutoScaling": [
        "iam:PassRole",
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:CreateLaunchConfiguration",
    ],
    "PassRole+UpdateAutoScaling": [
        "iam:PassRole",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:CreateLaunchConfiguration",
    ],
    "PassRole+ECS+RegisterTaskDef+CreateService": ["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:CreateService"],
    "PassRole+ECS+RegisterTaskDef+RunTask": ["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:RunTask"],
    "PassRole+ECS+RegisterTaskDef+StartTask": ["iam:PassRole", "ecs:RegisterTaskDefinition", "ecs:StartTask"],
    "PassRole+ECS+StartTask": [
        "iam:PassRole",
        "ecs:StartTask",
        "ecs:RegisterContainerInstance",
        "ecs:DeregisterContainerInstance",
    ],
    "PassRole+ECS+RunTask": ["iam:PassRole", "ecs:RunTask"],
    "ECS+ExecuteCommand": ["ecs:ExecuteCommand", "ecs:DescribeTasks"],
    "PassRole+SageMakerCreateNotebookInstance": ["iam:PassRole", "sagemaker:CreateNotebookInstance"],
    "PassRole+SageMakerCreateTrainingJob": ["iam:PassRole", "sagemaker:CreateTrainingJob"],
    "PassRole+SageMakerCreateProcessingJob": ["iam:PassRole", "sagemaker:CreateProcessingJob"],
    "SageMakerCreatePresignedNotebookInstanceUrl": ["sagemaker:CreatePresignedNotebookInstanceUrl"],
    "SageMakerNotebookLifecycleConfig": [
        "sagemaker:CreateNotebookInstanceLifecycleConfig",
        "sagemaker:StopNotebookInstance",
        "sagemaker:UpdateNotebookInstance",
        "sagemaker:StartNotebookInstance",
    ],
    "SSMStartSession": ["ssm:StartSession"],
    "SSMSendCommand": ["ssm:SendCommand"],
    "PassRole+AppRunnerCreateService": ["iam:PassRole", "apprunner:CreateService"],
    "AppRunnerUpdateService": ["apprunner:UpdateService"],
    "PassRole+AgentCoreCreateInterpreter+InvokeInterpreter": [
        "iam:PassRole",
        "bedrock-agentcore:CreateCodeInterpreter",
        "bedrock-agentcore:InvokeCodeInterpreter",
    ],
    "AgentCoreSessionInvoke": [
        "bedrock-agentcore:StartCodeInterpreterSession",
        "bedrock-agentcore:InvokeCodeInterpreter",
    ],
}


def refused(*documents: object, roles: tuple[Role, ...] = ()) -> str | None:
    policies = tuple(PolicyDoc(f"policy {i}", d) for i, d in enumerate(documents))  # type: ignore[arg-type]
    return refusal(USER, ACCOUNT, Grants(policies=policies, roles=roles), Guard())


@pytest.mark.parametrize("name", IAM_VULNERABLE)
def test_every_iam_vulnerable_path_is_refused(name: str) -> None:
    assert refused(IAM_VULNERABLE[name]) is not None


def test_iam_vulnerable_fn1_a_path_split_across_two_policies_is_refused() -> None:
    assert refused(allow("ec2:DescribeInstances", "ec2:RunInstances"), allow("iam:PassRole")) is not None


def test_iam_vulnerable_sre_and_the_assume_role_chain_are_refused() -> None:
    """sre: a role trusting the user, with iam:*, ec2:*, s3:*. privesc-AssumeRole: start trusts
    the user, intermediate trusts start, ending trusts intermediate and holds `*`."""
    role = f"arn:aws:iam::{ACCOUNT}:role"
    trust = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": USER}}]}
    sre = Role(f"{role}/privesc-sre-role", trust, (PolicyDoc("attached policy sre", allow("iam:*", "ec2:*", "s3:*")),))
    assert refused(roles=(sre,)) is not None

    def trusting(who: str) -> dict[str, object]:
        return {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": who}}]}

    chain = (
        Role(f"{role}/ending", trusting(f"{role}/intermediate"), (PolicyDoc("attached policy high-priv", allow("*")),)),
        Role(f"{role}/intermediate", trusting(f"{role}/starting")),
        Role(f"{role}/starting", trusting(USER)),
    )
    assert refused(roles=chain) is not None
    assert refused(roles=chain[:2]) is None  # no way in without the starting role


@pytest.mark.parametrize("name", IAM_VULNERABLE_NOT_EXPLOITABLE)
def test_iam_vulnerable_false_positives_still_rotate(name: str) -> None:
    assert refused(*IAM_VULNERABLE_NOT_EXPLOITABLE[name]) is None


def test_iam_vulnerable_fp5_is_refused_deliberately() -> None:
    assert refused(FP5) is not None


@pytest.mark.parametrize("name", PROWLER)
def test_every_prowler_combination_is_refused(name: str) -> None:
    assert powerful(allow(*PROWLER[name])) is not None
