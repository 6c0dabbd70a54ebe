"""Secret names: from a template, sanitised for Secrets Manager."""

from __future__ import annotations

import re

# Secrets Manager names allow letters, digits and / _ + = . @ -; IAM user names also allow `,`.
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9/_+=.@-]")
MAX_SECRET_NAME = 512


def secret_name(template: str, user_name: str, account_id: str) -> str:
    """The user's secret name. Characters Secrets Manager rejects become `_`; two users whose
    names then collide are told apart by the owner tag the worker checks."""
    name = template.format(user_name=user_name, account_id=account_id)
    return _NOT_ALLOWED.sub("_", name)[:MAX_SECRET_NAME]


def check_template(template: str) -> None:
    """Raise ValueError when the template cannot name a user's secret."""
    if "{user_name}" not in template:
        raise ValueError("the secret name template must contain {user_name}")
    try:
        template.format(user_name="u", account_id="000000000000")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"the secret name template {template!r} may only use {{user_name}} and {{account_id}}"
        ) from exc


def user_of(template: str, name: str, account_id: str) -> str | None:
    """The user whose secret `name` is under `template` in `account_id`, or None when no user's
    secret has that name. A user name holding `,` (which secret names cannot) comes back with
    `_` in its place: the worker then finds no such user, and says so."""
    literal = re.escape(template).replace(re.escape("{account_id}"), re.escape(account_id))
    pattern = literal.replace(re.escape("{user_name}"), r"(?P<user_name>[A-Za-z0-9_+=.@-]{1,64})", 1)
    pattern = pattern.replace(re.escape("{user_name}"), r"(?P=user_name)")
    match = re.fullmatch(pattern, name)
    return match.group("user_name") if match else None
