"""The composition root, and the only user of boto3: builds clients and adapters once and hands
them to the use cases as ports (rekey.ports.Ports)."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from .adapters.access_analyzer import UnusedKeyFindings, analyzer_region
from .adapters.cloudtrail import LOOKUP_EVENTS_PER_SECOND, EventHistory
from .adapters.delivery_github import Http, github_destination
from .adapters.delivery_ssm import SsmParameterDestination
from .adapters.errors import aws_call
from .adapters.hub_state import HubStateTable
from .adapters.iam import IamAdapter
from .adapters.organizations import ListedOrganization, OrganizationsAdapter
from .adapters.pace import Pace
from .adapters.secrets import SecretsAdapter
from .adapters.securityhub import SecurityHubAdapter
from .adapters.sns import Notifier
from .adapters.sqs import DigestQueue, ScanQueue, WorkQueue
from .adapters.sts import Credentials, StsAdapter, person_of, safe_name
from .domain.delivery import Destination
from .domain.entities import IamUser, NewKey
from .ports import DeliveryDestination, KeyActivity
from .settings import Settings

# botocore's standard retry mode: exponential backoff with jitter on throttling and 5xx. IAM
# throttles on unpublished, account-wide limits: 8 attempts (backoff up to ~1 min) make a call
# fail only after 8 throttled answers in a row (0.2^8 = 3e-6 when 20% of answers are throttled),
# and 8 read timeouts (4 min) still end within a Lambda's 5 minutes.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
)
# How long a process trusts its listing of the organization's accounts: the worker re-checks
# every item's account against it (rekey.use_cases.scope) without a call per item.
ORGANIZATION_TTL = timedelta(minutes=10)
# Refresh assumed-role credentials this long before they expire.
CREDENTIAL_MARGIN = timedelta(minutes=5)
# Member accounts whose clients are kept (least recently used dropped first). A boto3 client holds
# ~0.4 MB: keeping every account's made a 1,000-account sweep need ~1 GB, and a warm scan Lambda
# grow with every account it had ever scanned.
ACCOUNT_CACHE_SIZE = 32

# The two spoke roles and the adapters' permission groups (PERMISSIONS in rekey.adapters.*)
# each must grant: spoke_templates/spoke-role.yaml is held to these by test_permissions. The
# reader enumerates and judges users and finds rotations in flight; it never writes a key
# and never reads a secret's value. The writer acts on one user at a time.
SPOKE_ROLE_GROUPS = {
    "reader": (
        "spoke_enumerate",
        "spoke_read",
        "spoke_authz",
        "spoke_list",
        "spoke_describe",
        "spoke_findings",
        "spoke_advise",
    ),
    "writer": (
        "spoke_read",
        "spoke_authz",
        "spoke_key_write",
        "spoke_describe",
        "spoke_secret",
        "spoke_rotation",
        "spoke_delivery",
    ),
}
# Session names in member accounts' CloudTrail when a function, not a person, assumes the role:
# only the scan function may assume the reader, only the worker the writer (hub/template.yaml).
FUNCTION_SESSIONS = {"reader": "rekey-scan", "writer": "rekey-worker"}


def utcnow() -> datetime:
    return datetime.now(UTC)


ClientMaker = Callable[..., Any]


@dataclass
class AccountAdapters:
    """What a use case needs inside one member account."""

    account_id: str
    iam: IamAdapter
    secrets: SecretsAdapter
    # Any other client in the account, with the same role, paced: built on first use (only the
    # scan imports findings, only a delivery writes a parameter; a client costs ~0.4 MB), then
    # kept; in another region than the hub's when one is named (the advisor's event history).
    client: Callable[..., Any] = field(repr=False)

    @cached_property
    def findings(self) -> SecurityHubAdapter:
        return SecurityHubAdapter(self.client("securityhub"))


class Clients:
    """boto3 clients: the hub's own (one per service) and member accounts' (through the spoke
    reader or writer role, cached until shortly before the credentials expire, for the
    `cache_size` accounts used most recently). Thread-safe.

    Every session rekey opens in another account is attributable: a function's is named after
    it (`rekey-scan`, `rekey-worker`); one opened for an operator is `rekey-op-<person>`, the
    person being the caller the hub authenticated (`act_for`, the operator endpoint) or, for
    the CLI's commands that only read, the caller STS reports (`Runtime.caller_arn`). No session carries
    a SourceIdentity: a value the caller sets is not attribution, and no role trusts
    sts:SetSourceIdentity."""

    def __init__(
        self, settings: Settings, make_client: ClientMaker | None = None, cache_size: int = ACCOUNT_CACHE_SIZE
    ) -> None:
        self._settings = settings
        self._make = make_client or boto3.client
        self._lock = threading.Lock()
        self._hub: dict[str, Any] = {}
        self._accounts: OrderedDict[str, tuple[datetime, AccountAdapters]] = OrderedDict()
        self._cache_size = cache_size
        self._organizations: tuple[datetime, Any] | None = None
        self._caller: str | None = None
        self._person: str | None = None
        # Every wait of the clients and adapters (the pace's, the credential report's): the
        # Runtime's sleep (Runtime.wait), looked up at each wait.
        self.wait: Callable[[float], None] = time.sleep
        # Shared by every client of an account, so that it outlives the clients it paces.
        self.pace = Pace(settings.member_calls_per_second, sleep=lambda seconds: self.wait(seconds))
        # CloudTrail's LookupEvents quota (per account and region), kept wherever rekey paces at all.
        lookups = LOOKUP_EVENTS_PER_SECOND if settings.member_calls_per_second > 0 else 0
        self.lookup_pace = Pace(lookups, sleep=lambda seconds: self.wait(seconds))

    def act_for(self, caller_arn: str) -> None:
        """Name the sessions opened from now on after `caller_arn`'s person (`rekey-op-<person>`);
        those opened for anyone else before are not reused."""
        with self._lock:
            if self._caller == caller_arn:
                return
            self._caller, self._person = caller_arn, person_of(caller_arn)
            self._accounts.clear()
            self._organizations = None

    def _session(self, role: str) -> str:
        """RoleSessionName for assuming `role` (reader, writer or org)."""
        if self._person:
            return safe_name(f"rekey-op-{self._person}")
        if role in FUNCTION_SESSIONS:
            return FUNCTION_SESSIONS[role]
        # The organization role serves the sweep and the worker: the function's own name.
        return safe_name(os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or "rekey")

    def client(self, service: str, credentials: Credentials | None = None, region: str | None = None) -> Any:
        kwargs = credentials.as_client_kwargs() if credentials else {}
        # Creating clients on botocore's default session is not thread-safe.
        with self._lock:
            return self._make(service, region_name=region or self._settings.region, config=CLIENT_CONFIG, **kwargs)

    def hub(self, service: str) -> Any:
        if service == "organizations" and self._settings.org_role_arn:
            return self._organizations_through_role(self._settings.org_role_arn)
        with self._lock:
            cached = self._hub.get(service)
        if cached is None:
            cached = self.client(service)
            with self._lock:
                self._hub[service] = cached
        return cached

    def _organizations_through_role(self, role_arn: str) -> Any:
        """Organizations as REKEY_ORG_ROLE_ARN, a role in the management account: for a hub in a
        member account that is not a delegated administrator. Every caller of
        `hub("organizations")` (the sweep, the operators' commands) goes through it."""
        with self._lock:
            cached = self._organizations
        if cached and cached[0] - CREDENTIAL_MARGIN > utcnow():
            return cached[1]
        credentials, expires = StsAdapter(self.hub("sts")).assume(role_arn, session_name=self._session("org"))
        client = self.client("organizations", credentials)
        expiry = expires if isinstance(expires, datetime) else utcnow() + timedelta(minutes=15)
        with self._lock:
            self._organizations = (expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC), client)
        return client

    def account(self, account_id: str, *, write: bool = False) -> AccountAdapters:
        """Adapters acting in `account_id` through the spoke reader role, or with `write` the
        writer role (the worker, and the operators' requests to the hub): a scan cannot change
        anything."""
        role = "writer" if write else "reader"
        key = f"{account_id}/{role}"
        with self._lock:
            cached = self._accounts.get(key)
            if cached:
                self._accounts.move_to_end(key)
        if cached and cached[0] - CREDENTIAL_MARGIN > utcnow():
            return cached[1]
        s = self._settings
        role_arn = s.spoke_role_arn(account_id) if write else s.spoke_reader_role_arn(account_id)
        credentials, expires = StsAdapter(self.hub("sts")).assume(role_arn, session_name=self._session(role))
        iam, secrets = self.client("iam", credentials), self.client("secretsmanager", credentials)
        for client in (iam, secrets):
            self.pace.install(client, account_id)

        @functools.cache
        def client(service: str, region: str | None = None) -> Any:
            made = self.client(service, credentials, region)
            if service == "cloudtrail":  # LookupEvents' own quota, per account and region
                self.lookup_pace.install(made, f"{account_id}/{region or self._settings.region}")
            else:
                self.pace.install(made, account_id)
            return made

        iam_adapter = IamAdapter(iam, sleep=lambda seconds: self.wait(seconds))
        adapters = AccountAdapters(account_id, iam_adapter, SecretsAdapter(secrets), client)
        expiry = expires if isinstance(expires, datetime) else utcnow() + timedelta(minutes=15)
        with self._lock:
            self._accounts[key] = (expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC), adapters)
            self._accounts.move_to_end(key)
            while len(self._accounts) > self._cache_size:
                self._accounts.popitem(last=False)
        return adapters


@dataclass
class Runtime:
    """Everything the use cases need, built once per process (Lambda container or CLI run): the
    ports of rekey.ports.Ports, built from `clients`."""

    settings: Settings
    clients: Clients
    now: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] | None = None
    # HTTP outside AWS (GitHub's API): urllib's if None.
    http: Http | None = None
    _max_receive_count: list[int | None] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Clients shared by runtimes (a test's later clock) wait as the last one built says.
        self.clients.wait = self.wait

    def wait(self, seconds: float) -> None:
        """Every wait of this process goes through here: `sleep`, or time.sleep if None (a test's
        no-op sleep, set before or after the runtime is built, reaches the adapters' waits too)."""
        (self.sleep or time.sleep)(seconds)

    @classmethod
    def build(cls, settings: Settings, make_client: ClientMaker | None = None) -> Runtime:
        return cls(settings, Clients(settings, make_client))

    def account(self, account_id: str, *, write: bool = False) -> AccountAdapters:
        """Adapters in `account_id` through the spoke reader role, or with `write` the writer."""
        return self.clients.account(account_id, write=write)

    def act_for(self, caller_arn: str) -> None:
        """Sessions opened in member accounts from now on are the operator `caller_arn`'s."""
        self.clients.act_for(caller_arn)

    def caller_arn(self) -> str:
        """Who runs this process, as STS names it (the CLI's plan and report act for that
        person, rekey_cli.ports.OperatorPorts): never an argument."""
        return StsAdapter(self.clients.hub("sts")).caller_arn()

    def destination(self, destination: Destination, account_id: str, user: IamUser) -> DeliveryDestination:
        """The adapter delivering to `destination` for `user` (rekey.domain.delivery): an SSM
        parameter through the account's writer role."""
        if destination.kind == "ssm-parameter":
            name = (destination.option("name") or "").replace("{user_name}", user.name)
            ssm = self.account(account_id, write=True).client("ssm")
            return SsmParameterDestination(ssm, name, user, destination.option("kms_key_id"))
        return github_destination(destination, user.name, self._hub_secret, self.now, self.http, sleep=self.wait)

    def _hub_secret(self, name: str) -> str:
        """A secret's string in the hub's own Secrets Manager (a GitHub App's private key)."""
        with aws_call(f"secretsmanager:GetSecretValue {name}"):
            return str(self.clients.hub("secretsmanager").get_secret_value(SecretId=name)["SecretString"])

    def organizations(self) -> ListedOrganization:
        """The organization, as the hub (or REKEY_ORG_ROLE_ARN) sees it, listed at most every
        ORGANIZATION_TTL by this process."""
        return self._organization

    @cached_property
    def _organization(self) -> ListedOrganization:
        return ListedOrganization(OrganizationsAdapter(self.clients.hub("organizations")), self.now, ORGANIZATION_TTL)

    def notifier(self) -> Notifier:
        return Notifier(self.clients.hub("sns"), self.settings.topic_arn)

    def work_queue(self) -> WorkQueue:
        return WorkQueue(self.clients.hub("sqs"), self.settings.work_queue_url, self.settings.account_concurrency)

    def scan_queue(self) -> ScanQueue:
        if not self.settings.scan_queue_url:
            raise ValueError("REKEY_SCAN_QUEUE_URL is not set")
        return ScanQueue(self.clients.hub("sqs"), self.settings.scan_queue_url)

    def work_max_receive_count(self) -> int | None:
        """The work queue's maxReceiveCount (its redrive policy), read once: the attempt after
        which a failed item goes to the dead-letter queue. Raises a domain error if unreadable."""
        if not self._max_receive_count:
            self._max_receive_count.append(self.work_queue().max_receive_count())
        return self._max_receive_count[0]

    def hub_findings(self) -> SecurityHubAdapter:
        return SecurityHubAdapter(self.clients.hub("securityhub"))

    def hub_state(self) -> HubStateTable | None:
        """The hub's state table (the breaker, the waves), when the hub has one."""
        table = self.settings.state_table
        return HubStateTable(self.clients.hub("dynamodb"), table) if table else None

    def digest_queue(self) -> DigestQueue | None:
        """The queue the digest is built from, when the hub has one (rekey.digest)."""
        url = self.settings.digest_queue_url
        return DigestQueue(self.clients.hub("sqs"), url) if url else None

    def key_activity(self) -> list[KeyActivity]:
        """The member accounts' event history (LookupEvents through the reader role, paced)."""
        return [EventHistory(lambda account_id, region: self.account(account_id).client("cloudtrail", region))]

    def unused_access(self) -> UnusedKeyFindings | None:
        """The unused-access analyzer REKEY_ADVISOR_ANALYZER_ARN names, read with this process's own
        credentials (the hub's role; the operator's for the CLI) in the analyzer's region."""
        return self._analyzer

    @cached_property
    def _analyzer(self) -> UnusedKeyFindings | None:
        arn = self.settings.advisor_analyzer_arn
        return (
            UnusedKeyFindings(self.clients.client("accessanalyzer", region=analyzer_region(arn)), arn) if arn else None
        )

    def caller_of(self, key: NewKey) -> str:
        """Who STS says `key` is (sts:GetCallerIdentity signed by it): proof that a new key works."""
        return StsAdapter(self.clients.client("sts", Credentials(key.key_id, key.secret_access_key))).caller_arn()
