"""What an operator's command acts on, and for whom: the account (in rekey's reach), the user
(opted in, not refused), and the operator as STS tells it."""

from __future__ import annotations

from rekey.adapters.sts import StsAdapter
from rekey.domain import errors
from rekey.domain.entities import Account, IamUser
from rekey.domain.policy import OptIn, opt_in
from rekey.domain.scope import Scope
from rekey.runtime import AccountAdapters, Runtime
from rekey.use_cases.scan import assess_user


def find_account(rt: Runtime, account_id: str) -> Account:
    """The account, if rekey works in it; otherwise UsageError saying why not."""
    if not (account_id.isdigit() and len(account_id) == 12):
        raise errors.UsageError(f"{account_id!r} is not a 12-digit account id")
    organizations = rt.organizations()
    account = next((a for a in organizations.active_accounts() if a.account_id == account_id), None)
    if account is None:
        raise errors.UsageError(f"account {account_id} is not an ACTIVE account of the organization")
    if account_id in rt.settings.excluded_accounts:
        raise errors.UsageError(f"account {account_id} is excluded (REKEY_EXCLUDED_ACCOUNTS)")
    if rt.settings.target_ous and account_id not in organizations.accounts_under(sorted(rt.settings.target_ous)):
        raise errors.UsageError(f"account {account_id} is outside the OUs rekey covers (REKEY_TARGET_OUS)")
    return account


def _label(account: Account) -> str:
    return f"{account.account_id} ({account.name})" if account.name else account.account_id


def find_user(adapters: AccountAdapters, account: Account, user_name: str) -> IamUser:
    """The user with its policies (an operator's command is refused for a privileged user)."""
    try:
        return adapters.iam.get_user(user_name, with_grants=True)
    except errors.NotFound:
        raise errors.UsageError(f"no IAM user {user_name!r} in account {_label(account)}") from None


def require_opted_in(rt: Runtime, user: IamUser, account: Account) -> None:
    """Refused unless the user is tagged in and rekey may act on it (rekey.domain.privilege)."""
    state, why = opt_in(user.tags, rt.settings.tag_key)
    if state is not OptIn.IN:
        raise errors.Refused(
            f"{user.name} is not opted in ({why}): rekey only touches users tagged {rt.settings.tag_key}=true"
        )
    assessment = assess_user(rt, user, account.account_id, rt.now())
    if assessment.scope is Scope.REFUSED:
        raise errors.Refused(f"{user.name} is refused: {assessment.why}")


def operator(rt: Runtime) -> str:
    """Who runs the command, as STS tells it: the announcements name this ARN, never text the
    caller chose. A command that acts refuses to run without it."""
    try:
        return StsAdapter(rt.clients.hub("sts")).caller_arn()
    except errors.RekeyError as exc:
        raise errors.UsageError(f"cannot tell who you are (sts:GetCallerIdentity failed: {exc})") from None
