"""In-memory fakes of rekey's ports (rekey.ports): the use cases run against them in
milliseconds, with no emulator. They keep the state the use cases read back (keys, a secret's
current/pending/previous key, its tags) and answer like AWS where it matters to a branch: a
third key is LimitExceeded, a missing user or key NotFound, an existing secret Conflict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rekey.domain import errors
from rekey.domain.delivery import DeliveryStatus, Destination
from rekey.domain.entities import Account, IamUser, NewKey, ReportKey, SecretRecord
from rekey.domain.findings import GENERATOR_ID
from rekey.domain.models import AccessKey, Intent, KeyStatus, KeyUse, SecretState
from rekey.domain.privilege import Grants, PolicyDoc
from rekey.domain.rollout import DayTally, Halt, HubStatus, WaveRecord
from rekey.messages import Notification, OperatorCommand, ScanRequest, WorkItem
from rekey.settings import Settings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
HUB = "999988887777"
OPERATOR = f"arn:aws:sts::{HUB}:assumed-role/secops/alice@example.com"  # an operator's session


class Failures:
    """Raise `error` on the next `times` calls of `operation`."""

    def __init__(self) -> None:
        self.rules: dict[str, list[Exception]] = {}
        self.calls: list[str] = []

    def fail(self, operation: str, error: Exception, times: int = 1) -> None:
        self.rules.setdefault(operation, []).extend([error] * times)

    def check(self, operation: str) -> None:
        self.calls.append(operation)
        pending = self.rules.get(operation)
        if pending:
            raise pending.pop(0)


@dataclass
class FakeIam:
    account_id: str
    failures: Failures
    users: dict[str, IamUser] = field(default_factory=dict)
    keys: dict[str, list[AccessKey]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # key id -> secret half
    created: int = 0

    def add_user(
        self, name: str, tags: dict[str, str], *, key_ages: tuple[float, ...] = (), policies: tuple[Any, ...] = ()
    ) -> list[str]:
        grants = Grants(policies=tuple(PolicyDoc(f"inline policy {i}", p) for i, p in enumerate(policies)))
        arn = f"arn:aws:iam::{self.account_id}:user/{name}"
        self.users[name] = IamUser(name, f"AIDA{name.upper()}", arn, dict(tags), grants)
        self.keys[name] = []
        return [self.add_key(name, NOW - timedelta(days=age)) for age in key_ages]

    def add_key(self, name: str, created: datetime, status: KeyStatus = KeyStatus.ACTIVE) -> str:
        self.created += 1
        key_id = f"AKIAFAKE{self.created:012d}"
        self.keys[name].append(AccessKey(key_id, status, created))
        self.secrets[key_id] = f"secret-{self.created}"
        return key_id

    def use(self, name: str, key_id: str, at: datetime, service: str = "s3") -> None:
        self.keys[name] = [
            AccessKey(k.key_id, k.status, k.created, KeyUse(at, service, "eu-west-1")) if k.key_id == key_id else k
            for k in self.keys[name]
        ]

    def status(self, name: str) -> dict[str, str]:
        return {k.key_id: k.status.value for k in self.keys[name]}

    # -- the port

    def users_with_tag(self, tag_key: str) -> list[IamUser]:
        self.failures.check("users_with_tag")
        return [u for u in self.users.values() if tag_key in u.tags]

    def credential_report(self) -> dict[str, list[ReportKey]]:
        self.failures.check("credential_report")
        return {
            u.arn: [ReportKey(k.active, k.created, n, k.last_used) for n, k in enumerate(self.keys[u.name], 1)]
            for u in self.users.values()
        }

    def start_credential_report(self) -> Callable[[], dict[str, list[ReportKey]]]:
        return self.credential_report

    def get_user(self, name: str, *, with_grants: bool = False) -> IamUser:
        self.failures.check("get_user")
        if name not in self.users:
            raise errors.NotFound(f"no user {name}")
        return self.users[name]

    def access_keys(self, name: str, *, with_last_use: bool = True) -> list[AccessKey]:
        self.failures.check("access_keys")
        keys = list(self.keys[name])
        return self.last_use(keys) if with_last_use else [replace(k, last_used=None) for k in keys]

    def last_use(self, keys: list[AccessKey]) -> list[AccessKey]:
        self.failures.check("last_use")
        stored = {k.key_id: k for keys in self.keys.values() for k in keys}
        return [replace(k, last_used=stored[k.key_id].last_used) for k in keys]

    def key_owner(self, key_id: str) -> str | None:
        return next((n for n, keys in self.keys.items() if any(k.key_id == key_id for k in keys)), None)

    def create_key(self, name: str) -> NewKey:
        self.failures.check("create_key")
        if len(self.keys[name]) >= 2:
            raise errors.LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2")
        key_id = self.add_key(name, NOW)
        return NewKey(key_id, self.secrets[key_id], NOW)

    def set_status(self, name: str, key_id: str, status: KeyStatus) -> None:
        self.failures.check("set_status")
        self.keys[name] = [AccessKey(k.key_id, status, k.created, k.last_used) if k.key_id == key_id else k
                           for k in self.keys[name]]  # fmt: skip

    def delete_key(self, name: str, key_id: str) -> None:
        self.failures.check("delete_key")
        if not any(k.key_id == key_id for k in self.keys[name]):
            raise errors.NotFound(f"no key {key_id}")
        self.keys[name] = [k for k in self.keys[name] if k.key_id != key_id]

    # -- the operators' side (rekey_cli.ports.EveryUserIam)

    def all_users(self) -> list[IamUser]:
        self.failures.check("all_users")
        return list(self.users.values())


@dataclass
class FakeSecret:
    owner: str | None
    current: str | None = None
    pending: str | None = None
    previous: str | None = None
    replaced: str | None = None
    intent: Intent | None = None
    paused_until: date | None = None
    warned: tuple[str, date] | None = None
    revoked: frozenset[str] = frozenset()
    values: dict[str, str] = field(default_factory=dict)  # key id -> secret half
    versions: dict[str, str] = field(default_factory=dict)  # version id -> key id
    # The empty version Secrets Manager labels AWSPENDING when it starts a rotation (RotateSecret).
    stub: str | None = None
    rotations: list[tuple[str, int, bool]] = field(default_factory=list)  # RotateSecret calls
    policy: dict[str, Any] | None = None
    policy_puts: int = 0
    deleted: datetime | None = None  # DescribeSecret's DeletedDate: scheduled for deletion
    deliveries: dict[str, DeliveryStatus] = field(default_factory=dict)  # destination -> status

    def version_of(self, key_id: str | None) -> str | None:
        if key_id is None:
            return None
        return next((v for v, k in self.versions.items() if k == key_id), f"rekey-access-key-{key_id}")

    def key_of(self, version_id: str) -> str:
        return self.versions.get(version_id) or version_id.removeprefix("rekey-access-key-")

    @property
    def state(self) -> SecretState:
        return SecretState(
            True,
            self.current,
            self.pending,
            self.intent,
            self.previous or self.replaced,
            self.paused_until,
            self.warned,
            self.revoked,
            deliveries=tuple(sorted(self.deliveries.items())),
        )


@dataclass
class FakeSecrets:
    failures: Failures
    secrets: dict[str, FakeSecret] = field(default_factory=dict)

    def read(self, name: str, *, resolve_foreign: bool = True) -> SecretRecord:
        self.failures.check("read")
        secret = self.secrets.get(name)
        if secret is None:
            return SecretRecord(SecretState())
        version, pending = (secret.version_of(k) for k in (secret.current, secret.pending))
        pending = secret.stub or pending
        function, days, _ = secret.rotations[-1] if secret.rotations else (None, None, None)
        return SecretRecord(
            secret.state,
            secret.owner,
            version,
            pending_version_id=pending,
            rotation_function=function,
            rotation_days=days,
            scheduled_deletion=secret.deleted,
        )

    def _writable(self, name: str) -> FakeSecret:
        """The secret, to change: AWS refuses any change to one scheduled for deletion."""
        secret = self.secrets[name]
        if secret.deleted is not None:
            raise errors.InvalidRequest(f"secretsmanager: {name}: InvalidRequestException")
        return secret

    def listed(self) -> dict[str, SecretState]:
        return {n: s.state for n, s in self.secrets.items() if s.owner}

    def mark_checked(self, name: str, version_id: str) -> None:
        self.failures.check("mark_checked")

    def begin_rotation(self, name: str, *, exists: bool, owner_user_id: str, known_key_ids: list[str],
                       at: datetime, policy: dict[str, Any], kms_key_id: str | None, replaces: str | None = None,
                       replicas: list[dict[str, str]] | None = None, token: str | None = None) -> None:  # fmt: skip
        self.failures.check("begin_rotation")
        if not exists and name in self.secrets:
            raise errors.Conflict(f"{name} exists")
        secret = self._writable(name) if exists else self.secrets.setdefault(name, FakeSecret(owner_user_id))
        secret.intent, secret.replaced = Intent(at, frozenset(known_key_ids), token), replaces
        secret.policy = policy
        secret.policy_puts += 1

    def create(self, name: str, *, owner_user_id: str, policy: dict[str, Any], kms_key_id: str | None,
               replicas: list[dict[str, str]] | None = None) -> None:  # fmt: skip
        self.failures.check("create")
        if name in self.secrets:
            raise errors.Conflict(f"{name} exists")
        self.secrets[name] = FakeSecret(owner_user_id, policy=policy, policy_puts=1)

    def resource_policy(self, name: str) -> dict[str, Any] | None:
        self.failures.check("resource_policy")
        return self.secrets[name].policy

    def replicate(self, name: str, replicas: list[dict[str, str]]) -> None:
        self.failures.check("replicate")

    def stage(self, name: str, key: NewKey, *, first: bool = False, version_id: str | None = None) -> str:
        self.failures.check("stage")
        secret = self._writable(name)
        secret.values[key.key_id] = key.secret_access_key
        version = version_id or f"rekey-access-key-{key.key_id}"
        secret.versions[version] = key.key_id
        if version == secret.stub:
            secret.stub = None
        if first:
            secret.current = key.key_id
        else:
            secret.pending = key.key_id
        return version

    def staged_key(self, name: str, version_id: str) -> NewKey | None:
        secret = self.secrets[name]
        key_id = secret.key_of(version_id)
        value = secret.values.get(key_id)
        return NewKey(key_id, value, datetime(2000, 1, 1, tzinfo=UTC)) if value else None

    def promote(self, name: str, version_id: str, current_version_id: str | None) -> None:
        self.failures.check("promote")
        secret = self.secrets[name]
        key_id = secret.key_of(version_id)
        if secret.current != key_id:
            secret.previous, secret.current = secret.current, key_id
        secret.pending = None

    def drop_pending(self, name: str, version_id: str) -> None:
        self.failures.check("drop_pending")
        secret = self.secrets[name]
        secret.stub = secret.pending = None

    def rotate(self, name: str, function_arn: str, days: int, *, immediately: bool) -> None:
        self.failures.check("rotate")
        self._writable(name).rotations.append((function_arn, days, immediately))

    def clear_intent(self, name: str) -> None:
        self.failures.check("clear_intent")
        self.secrets[name].intent = None

    def mark_delivery(self, name: str, destination: str, status: DeliveryStatus) -> None:
        self.failures.check("mark_delivery")
        self._writable(name).deliveries[destination] = status

    def mark_revoked(self, name: str, key_id: str, revoked: frozenset[str]) -> None:
        if name not in self.secrets:
            raise errors.NotFound(f"secretsmanager:TagResource {name}: ResourceNotFoundException")
        self.secrets[name].revoked = revoked | {key_id}

    def mark_in_use_warned(self, name: str, key_id: str, day: date) -> None:
        self.secrets[name].warned = (key_id, day)

    # -- what an operator's rollback calls (rekey.use_cases.operator.rollback)

    def pause(self, name: str, until: date) -> None:
        self.failures.check("pause")
        self._writable(name).paused_until = until

    def stage_key_id(self, name: str, stage: str) -> str | None:
        secret = self.secrets[name]
        return {"AWSCURRENT": secret.current, "AWSPENDING": secret.pending, "AWSPREVIOUS": secret.previous}.get(stage)


@dataclass
class FakeFindings:
    """Security Hub in the member account: findings by Id, as BatchImportFindings leaves them."""

    failures: Failures
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: int = 0

    def import_findings(self, findings: Any) -> None:
        for start in range(0, len(findings), 100):
            self.failures.check("BatchImportFindings")
            self.imports += 1
            for f in findings[start : start + 100]:
                self.by_id[f["Id"]] = {**self.by_id.get(f["Id"], {}), **f}

    def rekey_findings(self, account_id: str) -> list[dict[str, Any]]:
        self.failures.check("GetFindings")
        # As the adapter: rekey's rotation findings only (the advisor's have a generator of their own).
        return [f for f in self.by_id.values() if f["AwsAccountId"] == account_id and f["GeneratorId"] == GENERATOR_ID]


@dataclass
class FakeAccount:
    account_id: str
    iam: FakeIam
    secrets: FakeSecrets
    findings: FakeFindings


@dataclass
class FakeOrganizations:
    accounts: list[Account]

    def active_accounts(self) -> list[Account]:
        return list(self.accounts)

    def accounts_under(self, parent_ids: Any) -> set[str]:
        return {a.account_id for a in self.accounts}


@dataclass
class Outbox:
    """What the use cases sent: notifications, work items, scan requests."""

    notifications: list[Notification] = field(default_factory=list)
    items: list[WorkItem] = field(default_factory=list)
    scans: list[ScanRequest] = field(default_factory=list)

    def publish(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def send(self, items: list[Any]) -> None:
        for item in items:
            (self.items if isinstance(item, WorkItem) else self.scans).append(item)

    def events(self, event: str) -> list[Notification]:
        return [n for n in self.notifications if n.event.value == event]


@dataclass
class FakeDestination:
    """A delivery destination (rekey.ports.DeliveryDestination) in memory: what it holds, and
    whose it is (`owner`: None until rekey writes it; anything else is someone else's value)."""

    name: str
    failures: Failures
    held: str | None = None  # the key id it holds
    owner: str | None = None
    pushes: int = 0

    def push(self, key: NewKey, written: str | None, remember: Any = None) -> str:
        self.failures.check(f"push {self.name}")
        if self.owner not in (None, "rekey"):
            raise errors.Conflict(f"{self.name} holds a value rekey did not write")
        self.held, self.owner, self.pushes = key.key_id, "rekey", self.pushes + 1
        return f"{self.name} version {self.pushes}"


class FakeHubState:
    """rekey.ports.HubState in memory (rekey.adapters.hub_state's items, as values)."""

    def __init__(self, failures: Failures) -> None:
        self.failures = failures
        self.halted: Halt | None = None
        self.records: dict[int, WaveRecord] = {}
        self.days: dict[date, DayTally] = {}

    def status(self, waves: int = 0) -> HubStatus:
        self.failures.check("hub_status")
        return HubStatus(self.halted, {n: r for n, r in self.records.items() if n < waves})

    def attempted(self, day: date) -> DayTally:
        tally = self.days.get(day, DayTally(day))
        self.days[day] = replace(tally, attempted=tally.attempted + 1)
        return self.days[day]

    def broke(self, day: date, sign: str, wave: int | None) -> DayTally:
        tally = self.days.get(day, DayTally(day))
        self.days[day] = replace(tally, signs=tally.signs | {sign})
        if wave is not None and wave in self.records:
            self.records[wave] = replace(self.records[wave], last_breakage=day)
        return self.days[day]

    def halt_now(self, halt: Halt) -> bool:
        if self.halted is not None:
            return False
        self.halted = halt
        return True

    def resume(self) -> Halt | None:
        halt, self.halted = self.halted, None
        return halt

    def set_waves(self, records: dict[int, WaveRecord]) -> None:
        self.records.update(records)


class FakePorts:
    """rekey.ports.Ports in memory: one member account, a fixed clock, no sleeping."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.settings = Settings.from_env(
            {
                "AWS_DEFAULT_REGION": "us-east-1",
                "REKEY_WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/999988887777/rekey-work.fifo",
                "REKEY_TOPIC_ARN": f"arn:aws:sns:us-east-1:{HUB}:rekey",
                **(env or {}),
            }
        )
        self.now = lambda: NOW
        self.sleep: Any = lambda _seconds: None
        self.failures = Failures()
        self.iam = FakeIam(ACCOUNT, self.failures)
        self.secrets = FakeSecrets(self.failures)
        self.findings = FakeFindings(self.failures)
        self.outbox = Outbox()
        self.org = FakeOrganizations([Account(ACCOUNT, "payments")])
        self.sts_answers: list[str] = []  # what STS says for a new key, when not its user's ARN
        self.acting_for: str | None = None  # the operator member sessions are named after
        self.destinations: dict[str, FakeDestination] = {}  # by destination name, made on first use
        self.state = FakeHubState(self.failures)
        self.hub_finding_list = FakeFindings(self.failures)
        self.activity: list[Any] = []  # the advisor's sources of events (rekey.ports.KeyActivity)
        self.analyzer: Any = None  # the advisor's unused-access analyzer (rekey.ports.UnusedAccess)

    def account(self, account_id: str, *, write: bool = False) -> FakeAccount:
        if account_id != ACCOUNT:
            raise errors.AccessDenied(f"cannot assume a role in {account_id}")
        return FakeAccount(account_id, self.iam, self.secrets, self.findings)

    def act_for(self, caller_arn: str) -> None:
        self.acting_for = caller_arn

    def destination(self, destination: Destination, account_id: str, user: IamUser) -> FakeDestination:
        return self.destinations.setdefault(destination.name, FakeDestination(destination.name, self.failures))

    def organizations(self) -> FakeOrganizations:
        return self.org

    def notifier(self) -> Outbox:
        return self.outbox

    def work_queue(self) -> Outbox:
        return self.outbox

    def scan_queue(self) -> Outbox:
        return self.outbox

    def digest_queue(self) -> None:
        return None

    def hub_state(self) -> FakeHubState:
        return self.state

    def hub_findings(self) -> FakeFindings:
        return self.hub_finding_list

    def work_max_receive_count(self) -> int | None:
        return 3

    def key_activity(self) -> list[Any]:
        return self.activity

    def unused_access(self) -> Any:
        return self.analyzer

    def caller_of(self, key: NewKey) -> str:
        self.failures.check("caller_of")
        if self.sts_answers:
            return self.sts_answers.pop(0)
        owner = self.iam.key_owner(key.key_id)
        if owner is None:
            raise errors.AccessDenied("InvalidClientTokenId")
        return self.iam.users[owner].arn

    # -- the operators' side (rekey_cli.ports.OperatorPorts)

    caller: str = OPERATOR  # who runs the shell, as STS would name it

    def caller_arn(self) -> str:
        self.failures.check("caller_arn")
        return self.caller


@dataclass
class FakeHub:
    """The hub's operator endpoint (rekey_cli.ports.HubEndpoint) in memory: each request reaches
    the operator function's handler as Lambda delivers it, signed by `caller`, and is carried
    out on `ports` (the hub's side: REKEY_OPERATORS in its settings, the member account)."""

    ports: FakePorts
    caller: str = OPERATOR
    requests: list[OperatorCommand] = field(default_factory=list)

    def post(self, request: OperatorCommand) -> tuple[int, bytes]:
        # Imported here: the handler brings Powertools, which no other fake needs.
        from rekey.handlers import operator

        self.requests.append(request)
        response = operator.process(function_url_event(request.model_dump_json(), self.caller), self.ports)
        return response["statusCode"], response["body"].encode()


def function_url_event(body: str | None, caller: str | None, method: str = "POST", **changes: Any) -> dict[str, Any]:
    """A request to a function URL with AuthType AWS_IAM (payload format 2.0) as Lambda delivers
    it once it has verified the signature of `caller` (None: a bare invocation, nobody signed)."""
    iam = {"accessKey": "ASIAEXAMPLE", "accountId": HUB, "callerId": "AROAEXAMPLE:alice", "userArn": caller}
    http = {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "rekey"}
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": HUB,
            "apiId": "abcdefgh",
            "authorizer": {"iam": iam} if caller is not None else None,
            "domainName": "abcdefgh.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefgh",
            "http": http,
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:09:00:00 +0000",
            "timeEpoch": 1796115600000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
    return {**event, **changes}
