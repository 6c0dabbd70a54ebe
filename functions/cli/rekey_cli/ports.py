"""What the operators' commands need from the world beyond the use cases' ports (rekey.ports),
as Protocols: the composition root (rekey_cli.cli) hands over rekey.runtime.Runtime and the
signed hub endpoint (rekey_cli.hub_endpoint); tests hand over tests/fakes.py's FakePorts and
FakeHub. Only the CLI needs these, so they live here, not in the Lambda package."""

from __future__ import annotations

from typing import Protocol

from rekey.domain.entities import IamUser
from rekey.messages import OperatorCommand
from rekey.ports import AccountIam, MemberAccount, Ports


class EveryUserIam(AccountIam, Protocol):
    """IAM in one member account as `rekey report` reads it: every user, tagged or not."""

    def all_users(self) -> list[IamUser]: ...


class ReadableAccount(MemberAccount, Protocol):
    """A member account as the operators' reads see it (through the spoke reader role)."""

    @property
    def iam(self) -> EveryUserIam: ...


class OperatorPorts(Ports, Protocol):
    """What `rekey plan` and `rekey report` reach: the use cases' ports, every user of an
    account, and who runs this shell."""

    def account(self, account_id: str, *, write: bool = False) -> ReadableAccount: ...

    def caller_arn(self) -> str:
        """Who runs this process, as STS names it (sts:GetCallerIdentity): never an argument."""
        ...


class HubEndpoint(Protocol):
    """The hub's operator endpoint (REKEY_OPERATOR_URL), where `rotate-now` and `rollback` are
    asked: the hub authenticates the caller from the request's signature and carries it out."""

    def post(self, request: OperatorCommand) -> tuple[int, bytes]:
        """The HTTP status and body the hub answered to `request`, signed as whoever runs this
        shell; errors.Unavailable if it cannot be reached, ConfigurationError without a URL."""
        ...
