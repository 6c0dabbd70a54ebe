"""A small evaluator of IAM policy documents, and a resolver of the CloudFormation intrinsics
around them, for the documents moto stores but never enforces (queue and topic policies,
conditions on aws:PrincipalArn, aws:SourceArn, aws:SecureTransport...).

It follows AWS's evaluation logic for one account's resource policy (a role's trust policy
too) plus the caller's identity policy: an explicit Deny anywhere wins; a principal of the
resource's account needs an Allow in
either document, a principal of another account in both, a service principal in the resource
policy. Conditions: the String*, Arn*, Bool and Null operators, `...IfExists`, and AWS's rule
for a key missing from the request (false, but true for the negated operators). Not modelled:
NotPrincipal, ForAllValues/ForAnyValue, policy variables, SCPs, permissions boundaries, session
policies. It refuses (raises) what it does not model rather than guess."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal

Decision = Literal["Allow", "Deny", "ImplicitDeny"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Request:
    """One API request as a policy sees it. `principal` is an IAM ARN (a role stands for its
    sessions, as aws:PrincipalArn does) or None for a service principal (`service`)."""

    action: str
    resource: str
    principal: str | None = None
    service: str | None = None
    secure_transport: bool = True
    context: Mapping[str, str] = field(default_factory=dict)  # further keys: aws:SourceArn...

    @property
    def account(self) -> str | None:
        return self.principal.split(":")[4] if self.principal else None

    def keys(self) -> dict[str, str]:
        """The request context's condition keys (lower-cased: keys are case-insensitive)."""
        keys = {"aws:securetransport": "true" if self.secure_transport else "false"}
        if self.principal:
            keys["aws:principalarn"] = self.principal
            keys["aws:principalaccount"] = str(self.account)
        if self.service:
            keys["aws:principalservicename"] = self.service
        keys.update({k.lower(): v for k, v in self.context.items()})
        return keys


def _like(pattern: str, value: str) -> bool:
    return fnmatchcase(value, pattern)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike/ArnEquals: each of the six colon-separated parts matched on its own."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    return len(p) == len(v) == 6 and all(fnmatchcase(b, a) for a, b in zip(p, v, strict=True))


_MATCHERS = {
    "stringequals": lambda p, v: p == v,
    "stringequalsignorecase": lambda p, v: p.lower() == v.lower(),
    "stringlike": _like,
    "arnequals": _arn_like,
    "arnlike": _arn_like,
    "bool": lambda p, v: p.lower() == v.lower(),
}
_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


def _condition_holds(operator: str, key: str, expected: Any, keys: Mapping[str, str]) -> bool:
    op = operator.lower()
    if_exists = op.endswith("ifexists")
    op = op.removesuffix("ifexists")
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in as_list(expected)]
    actual = keys.get(key.lower())
    if op == "null":
        return any((v == "true") == (actual is None) for v in values)
    if actual is None:
        return if_exists or op in _NEGATED
    if op in _NEGATED:
        return not any(_MATCHERS[_NEGATED[op]](v, actual) for v in values)
    if op not in _MATCHERS:
        raise NotImplementedError(f"condition operator {operator}")
    return any(_MATCHERS[op](v, actual) for v in values)


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        raise NotImplementedError(f"principal {principal!r}")
    for kind, values in principal.items():
        for value in as_list(values):
            if kind == "Service" and request.service == value:
                return True
            if kind == "AWS" and request.principal:
                if value == "*" or value == request.principal:
                    return True
                if (
                    value == request.account
                    or value == f"arn:{request.principal.split(':')[1]}:iam::{request.account}:root"
                ):
                    return True
    return False


def statement_matches(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> bool:
    """Whether `statement` applies to `request` (its effect aside)."""
    unknown = set(statement) - {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "Condition"}
    if unknown:
        raise NotImplementedError(f"statement elements {sorted(unknown)}")
    if resource_policy and not _principal_matches(statement["Principal"], request):
        return False
    action = request.action.lower()
    if "Action" in statement:
        if not any(fnmatchcase(action, a.lower()) for a in as_list(statement["Action"])):
            return False
    elif any(fnmatchcase(action, a.lower()) for a in as_list(statement["NotAction"])):
        return False
    # A role's trust policy names no Resource: it is the role it is attached to.
    resources = statement.get("Resource", "*") if resource_policy else statement["Resource"]
    if not any(r == "*" or _arn_like(r, request.resource) for r in as_list(resources)):
        return False
    keys = request.keys()
    return all(
        _condition_holds(operator, key, expected, keys)
        for operator, block in statement.get("Condition", {}).items()
        for key, expected in block.items()
    )


def decide(
    request: Request, resource_policy: Mapping[str, Any] | None, identity: Iterable[Mapping[str, Any]] = ()
) -> Decision:
    """AWS's answer to `request` on a resource with `resource_policy`, the caller's identity
    policy being the statements `identity`."""
    resource_statements = as_list((resource_policy or {}).get("Statement", []))
    identity_statements = list(identity)

    def effects(statements: list[Any], *, resource: bool) -> set[str]:
        return {s["Effect"] for s in statements if statement_matches(s, request, resource_policy=resource)}

    by_resource = effects(resource_statements, resource=True)
    by_identity = effects(identity_statements, resource=False) if request.principal else set()
    if "Deny" in by_resource | by_identity:
        return "Deny"
    resource_account = request.resource.split(":")[4]
    if request.principal is None:
        allowed = "Allow" in by_resource
    elif request.account == resource_account:
        allowed = "Allow" in by_resource | by_identity
    else:
        allowed = "Allow" in by_resource and "Allow" in by_identity
    return "Allow" if allowed else "ImplicitDeny"


# --------------------------------------------------------------------------- CloudFormation


NO_VALUE = object()


@dataclass
class Stack:
    """A template's resources as a stack would name them, for resolving the intrinsics of its
    documents: `parameters` override the template's defaults (lists for CommaDelimitedList)."""

    template: Mapping[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    account: str = "111122223333"
    region: str = "us-east-1"
    partition: str = "aws"
    stack_name: str = "rekey-hub"

    def __post_init__(self) -> None:
        values: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            value = self.parameters.get(name, spec.get("Default"))
            if value is None:
                continue  # a required parameter: resolving a reference to it fails
            if spec["Type"] == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            values[name] = value
        unknown = set(self.parameters) - set(self.template.get("Parameters", {}))
        if unknown:
            raise ValueError(f"not parameters of the template: {sorted(unknown)}")
        self.values = values
        self.conditions = {name: bool(self.resolve(c)) for name, c in self.template.get("Conditions", {}).items()}

    # ---- names

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }[name]

    def _attribute(self, logical_id: str, attribute: str) -> str:
        resource = self.template["Resources"][logical_id]
        kind, props = resource["Type"], resource.get("Properties", {})
        arn = f"arn:{self.partition}"
        if kind == "AWS::SQS::Queue":
            name = self.resolve(props["QueueName"])
            value = {
                "Ref": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}",
                "Arn": f"{arn}:sqs:{self.region}:{self.account}:{name}",
                "QueueName": name,
            }
        elif kind == "AWS::SNS::Topic":
            topic = f"{arn}:sns:{self.region}:{self.account}:{self.resolve(props['TopicName'])}"
            value = {"Ref": topic, "TopicArn": topic}
        elif kind == "AWS::IAM::Role":
            name = self.resolve(props["RoleName"])
            value = {"Ref": name, "Arn": f"{arn}:iam::{self.account}:role{props.get('Path', '/')}{name}"}
        elif kind == "AWS::DynamoDB::Table":
            name = self.resolve(props["TableName"])
            value = {"Ref": name, "Arn": f"{arn}:dynamodb:{self.region}:{self.account}:table/{name}"}
        elif kind == "AWS::KMS::Key":
            value = {"Arn": f"{arn}:kms:{self.region}:{self.account}:key/{logical_id.lower()}"}
        else:
            raise NotImplementedError(f"{logical_id}.{attribute} ({kind})")
        return value[attribute]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.values:
            return self.values[name]
        if name in self.template.get("Parameters", {}):
            raise ValueError(f"parameter {name} has no default: pass it")
        return self._attribute(name, "Ref")

    # ---- intrinsics

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self._attribute(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        """`node` with every intrinsic function evaluated (AWS::NoValue dropped)."""
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.conditions[arg]
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._attribute(logical_id, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return self._sub(text, variables)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::If":
                return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return left == right
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    # ---- documents

    def resource_policies(self, kind: str, targets: str) -> dict[str, dict[str, Any]]:
        """Each resource's policy document, by the logical id it applies to: `kind`
        AWS::SQS::QueuePolicy (targets Queues) or AWS::SNS::TopicPolicy (targets Topics)."""
        found: dict[str, dict[str, Any]] = {}
        for resource in self.template["Resources"].values():
            if resource["Type"] != kind:
                continue
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            for target in resource["Properties"][targets]:
                (logical_id,) = target.values()
                if logical_id in found:
                    raise ValueError(f"{logical_id} has two policies (the last one wins in AWS)")
                found[logical_id] = self.resolve(resource["Properties"]["PolicyDocument"])
        return found

    def role_statements(self, logical_id: str) -> list[dict[str, Any]]:
        """A role's identity statements: its inline policies and the AWS::IAM::Policy resources
        attached to it (when their condition holds). Managed policies are not read."""
        resources = self.template["Resources"]
        documents = [p["PolicyDocument"] for p in resources[logical_id]["Properties"].get("Policies", [])]
        for resource in resources.values():
            if resource["Type"] != "AWS::IAM::Policy" or {"Ref": logical_id} not in resource["Properties"]["Roles"]:
                continue
            if "Condition" in resource and not self.conditions[resource["Condition"]]:
                continue
            documents.append(resource["Properties"]["PolicyDocument"])
        return [s for d in documents for s in as_list(self._document(d)["Statement"])]

    def trust_policy(self, logical_id: str) -> dict[str, Any]:
        """A role's trust policy (AssumeRolePolicyDocument), resolved."""
        return self._document(self.template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"])

    def _document(self, node: Any) -> dict[str, Any]:
        """A policy document, resolved: a mapping, or the JSON text a !Sub makes of one."""
        document = self.resolve(node)
        return json.loads(document) if isinstance(document, str) else document
