"""What rekey knows of every account in its scope: the users, their standing, keys and secrets
(read, never written), for the plan and the compliance report. On ports (rekey_cli.ports)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rekey.domain import errors
from rekey.domain.entities import Account, IamUser, ReportKey
from rekey.domain.models import AccessKey, Policy, SecretState
from rekey.domain.naming import secret_name
from rekey.domain.scope import Assessment, assess
from rekey.settings import Settings
from rekey.use_cases.scan import assess_user
from rekey.use_cases.sweep import accounts_to_sweep, each_account

from .forecast import PolicyOn
from .ports import OperatorPorts

log = logging.getLogger(__name__)


@dataclass
class UserView:
    """What rekey knows of one user: tags and standing, keys (read for tagged users), the
    credential report's view (for everyone), the secret."""

    user: IamUser
    assessment: Assessment
    secret_name: str
    keys: list[AccessKey] | None = None
    report_keys: list[ReportKey] = field(default_factory=list)
    secret: SecretState = field(default_factory=SecretState)

    @property
    def tagged(self) -> bool:
        return self.keys is not None


@dataclass
class AccountView:
    account: Account
    users: list[UserView] = field(default_factory=list)
    error: str | None = None


def inventory(
    ports: OperatorPorts, *, every_user: bool, progress: Callable[[int, int], None] | None = None
) -> list[AccountView]:
    """Every account in rekey's scope, with its users carrying the opt-in tag (keys and secret
    read: ListAccessKeys, GetAccessKeyLastUsed per key, DescribeSecret) and, with
    `every_user`, the others too from the credential report. One failing account is reported,
    never stops the others. `progress(done, total)` is called as each account is read."""
    now = ports.now()
    s = ports.settings

    def one(account: Account) -> AccountView:
        view = AccountView(account)
        try:
            member = ports.account(account.account_id)
            users = member.iam.all_users() if every_user else member.iam.users_with_tag(s.tag_key)
            report = member.iam.credential_report() if every_user and users else {}
            for user in sorted(users, key=lambda u: u.name):
                assessment = assess_user(ports, user, account.account_id, now)
                name = secret_name(s.secret_name, user.name, account.account_id)
                entry = UserView(user, assessment, name, report_keys=report.get(user.arn, []))
                if s.tag_key in user.tags:
                    entry.keys = member.iam.access_keys(user.name)
                    entry.secret = member.secrets.read(name).state
                view.users.append(entry)
        except errors.RekeyError as exc:
            view.error = f"{exc.code}: {exc}"
            log.error("account %s: %s", account.account_id, view.error)
        return view

    return each_account(accounts_to_sweep(ports), one, s.scan_concurrency, progress)


def policy_on(settings: Settings, tags: dict[str, str]) -> PolicyOn:
    """The user's policy on a given day (None while exempt or out of scope): exemptions
    lapse within a forecast."""
    s = settings

    def on(moment: datetime) -> Policy | None:
        standing = assess(tags, s.tag_key, s.policy, s.bounds, moment)
        return standing.policy if standing.in_scope else None

    return on
