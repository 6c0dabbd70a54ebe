"""The small policy evaluator the resource-policy tests rely on, checked against AWS's
documented rules on a few documents."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy_eval import Request, Stack, decide

QUEUE = "arn:aws:sqs:us-east-1:111122223333:q"
ROLE = "arn:aws:iam::111122223333:role/app"
OTHER_ROLE = "arn:aws:iam::444455556666:role/app"
SEND = [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE}]


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def deny_unless(operator: str, key: str, values: Any) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": QUEUE,
        "Condition": {operator: {key: values}},
    }


def test_same_account_needs_one_allow_another_account_both() -> None:
    allow_other = {
        "Effect": "Allow",
        "Principal": {"AWS": "444455556666"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
    }
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), None, SEND) == "Allow"
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), None, []) == "ImplicitDeny"
    assert decide(Request("sqs:SendMessage", QUEUE, principal=OTHER_ROLE), None, SEND) == "ImplicitDeny"
    assert decide(Request("sqs:SendMessage", QUEUE, principal=OTHER_ROLE), policy(allow_other), SEND) == "Allow"
    assert decide(Request("sqs:SendMessage", QUEUE, principal=OTHER_ROLE), policy(allow_other), []) == "ImplicitDeny"


def test_an_explicit_deny_wins_and_actions_match_case_insensitively_with_wildcards() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": ROLE}, "Action": "SQS:Send*", "Resource": "*"}
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), policy(deny), SEND) == "Deny"
    assert decide(Request("sqs:ReceiveMessage", QUEUE, principal=ROLE), policy(deny), [{**SEND[0], "Action": "*"}]) == (
        "Allow"
    )


@pytest.mark.parametrize(
    ("operator", "values", "context", "denied"),
    [
        # A negated operator holds when the key is missing; a positive one does not.
        ("ArnNotEquals", [ROLE], {}, False),
        ("ArnNotEquals", ["arn:aws:iam::111122223333:role/other"], {}, True),
        ("StringNotEquals", ["x"], {"aws:SourceAccount": "x"}, False),
        (
            "ArnNotLike",
            ["arn:aws:sns:*:111122223333:*"],
            {"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"},
            False,
        ),
        (
            "ArnNotLike",
            ["arn:aws:sns:*:111122223333:*"],
            {"aws:SourceArn": "arn:aws:sns:eu-west-1:999999999999:t"},
            True,
        ),
    ],
)
def test_condition_operators(operator: str, values: Any, context: dict[str, str], denied: bool) -> None:
    key = next(iter(context), "aws:PrincipalArn")
    document = policy(deny_unless(operator, key, values))
    result = decide(Request("sqs:SendMessage", QUEUE, principal=ROLE, context=context), document, SEND)
    assert (result == "Deny") is denied


def test_missing_keys() -> None:
    on_source = policy(deny_unless("ArnNotEquals", "aws:SourceArn", "arn:aws:sns:us-east-1:111122223333:t"))
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), on_source, SEND) == "Deny"  # missing: true
    equals = policy(deny_unless("ArnEquals", "aws:SourceArn", "*"))
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), equals, SEND) == "Allow"  # missing: false
    if_exists = policy(deny_unless("StringEqualsIfExists", "aws:SourceAccount", "1"))
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), if_exists, SEND) == "Deny"
    tls = policy(deny_unless("Bool", "aws:SecureTransport", "false"))
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE), tls, SEND) == "Allow"
    assert decide(Request("sqs:SendMessage", QUEUE, principal=ROLE, secure_transport=False), tls, SEND) == "Deny"


def test_service_principals_need_the_resource_policy() -> None:
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
    }
    assert decide(Request("sqs:SendMessage", QUEUE, service="sns.amazonaws.com"), policy(allow)) == "Allow"
    assert decide(Request("sqs:SendMessage", QUEUE, service="s3.amazonaws.com"), policy(allow)) == "ImplicitDeny"


def test_the_stack_resolves_intrinsics_with_parameters_and_conditions() -> None:
    template = {
        "Parameters": {"Names": {"Type": "CommaDelimitedList", "Default": ""}, "Prefix": {"Type": "String"}},
        "Conditions": {"HasNames": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Names"}]}, ""]}]}},
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": {"Fn::Sub": "${Prefix}scan"}}}},
    }
    value = {
        "Fn::If": [
            "HasNames",
            {
                "Fn::Split": [
                    ",",
                    {"Fn::Join": [",", [{"Fn::GetAtt": ["Role", "Arn"]}, {"Fn::Join": [",", {"Ref": "Names"}]}]]},
                ]
            },
            [{"Fn::GetAtt": ["Role", "Arn"]}, {"Ref": "AWS::NoValue"}],
        ]
    }
    assert Stack(template, {"Prefix": "p-"}, account="1").resolve(value) == ["arn:aws:iam::1:role/p-scan"]
    assert Stack(template, {"Prefix": "p-", "Names": "a,b"}, account="1").resolve(value) == [
        "arn:aws:iam::1:role/p-scan",
        "a",
        "b",
    ]
    with pytest.raises(ValueError, match="Prefix"):
        Stack(template, {}).resolve({"Ref": "Prefix"})
