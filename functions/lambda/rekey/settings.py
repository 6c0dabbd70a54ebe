"""Typed settings, read once from the environment (the same variables for Lambda and CLI)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, time
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .domain.controls import PRESETS, Preset, preset_ceiling
from .domain.delivery import Destination, parse_destinations
from .domain.errors import ConfigurationError
from .domain.models import InUsePolicy, Policy
from .domain.naming import check_template
from .domain.operators import OperatorGrant, parse_operators
from .domain.policy import Bounds, PolicyError, check_policy
from .domain.privilege import Guard
from .domain.rollout import Threshold, Waves, parse_waves
from .domain.secret_policy import secret_policy
from .domain.window import Window, parse_window, sweep_time

# Environment variable -> field name. Documented in README's configuration table.
ENVIRONMENT = {
    "REKEY_WORK_QUEUE_URL": "work_queue_url",
    "REKEY_TOPIC_ARN": "topic_arn",
    "REKEY_SCAN_QUEUE_URL": "scan_queue_url",
    "REKEY_SPOKE_ROLE_NAME": "spoke_role_name",
    "REKEY_SPOKE_READER_ROLE_NAME": "spoke_reader_role_name",
    "REKEY_BREAK_GLASS_ROLE_ARN": "break_glass_role_arn",
    "REKEY_ORGANIZATION_ID": "organization_id",
    "REKEY_TAG_KEY": "tag_key",
    "REKEY_POLICY_PRESET": "policy_preset",
    "REKEY_ROTATE_AFTER_DAYS": "rotate_after_days",
    "REKEY_DEACTIVATE_AFTER_DAYS": "deactivate_after_days",
    "REKEY_DELETE_AFTER_DAYS": "delete_after_days",
    "REKEY_MAX_ROTATE_AFTER_DAYS": "max_rotate_after_days",
    "REKEY_MAX_DELETE_AFTER_DAYS": "max_delete_after_days",
    "REKEY_SECRET_NAME": "secret_name",
    "REKEY_KMS_KEY_ID": "kms_key_id",
    "REKEY_EXCLUDED_ACCOUNTS": "excluded_accounts",
    "REKEY_SECRET_AUDITOR_ROLE_NAMES": "secret_auditor_role_names",
    "REKEY_SECURITY_HUB_FINDINGS": "security_hub_findings",
    "REKEY_SCAN_CONCURRENCY": "scan_concurrency",
    "REKEY_MEMBER_CALLS_PER_SECOND": "member_calls_per_second",
    "REKEY_TARGET_OUS": "target_ous",
    "REKEY_IN_USE_WARN_DAYS": "in_use_warn_days",
    "REKEY_IN_USE_POLICY": "in_use_policy",
    "REKEY_IN_USE_MAX_DEFER_DAYS": "in_use_max_defer_days",
    "REKEY_MAX_DEACTIVATE_AFTER_DAYS": "max_deactivate_after_days",
    "REKEY_CREATE_FIRST_KEY": "create_first_key",
    "REKEY_CLASSIC_EVENT": "classic_event",
    "REKEY_MAX_PAUSE_DAYS": "max_pause_days",
    "REKEY_MIN_ROTATE_AFTER_DAYS": "min_rotate_after_days",
    "REKEY_MIN_OVERLAP_DAYS": "min_overlap_days",
    "REKEY_MAX_EXEMPT_DAYS": "max_exempt_days",
    "REKEY_PRIVILEGED_USERS_ALLOWED": "privileged_users_allowed",
    "REKEY_USER_PATH_PREFIX": "user_path_prefix",
    "REKEY_REQUIRED_BOUNDARY_ARN": "required_boundary_arn",
    "REKEY_DIGEST_QUEUE_URL": "digest_queue_url",
    "REKEY_ORG_ROLE_ARN": "org_role_arn",
    "REKEY_SECRET_REPLICA_REGIONS": "secret_replica_regions",
    "REKEY_SECRET_REPLICA_KMS_KEYS": "secret_replica_kms_keys",
    "REKEY_OPERATORS": "operators",
    "REKEY_ROTATION_RELAY": "rotation_relay",
    "REKEY_DESTINATIONS": "destinations",
    "REKEY_ROTATION_WINDOW": "rotation_window",
    "REKEY_SWEEP_SCHEDULE": "sweep_at",
    "REKEY_STATE_TABLE": "state_table",
    "REKEY_BREAKER_SIGNS": "breaker_signs",
    "REKEY_BREAKER_SHARE": "breaker_share",
    "REKEY_WAVES": "waves",
    "REKEY_WAVE_QUIET_DAYS": "wave_quiet_days",
    "REKEY_ACCOUNT_CONCURRENCY": "account_concurrency",
    "REKEY_ADVISOR": "advisor",
    "REKEY_ADVISOR_UNUSED_DAYS": "advisor_unused_days",
    "REKEY_ADVISOR_REGIONS": "advisor_regions",
    "REKEY_ADVISOR_ANALYZER_ARN": "advisor_analyzer_arn",
}
REQUIRED = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
NO_REGION = "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION), or a region in the AWS profile"
_OU_ID = re.compile(r"(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
_USER_ARN = re.compile(r"arn:(aws[a-z-]*):iam::[0-9]{12}:user/[A-Za-z0-9_+=,.@/-]{1,512}")
_BOUNDARY_ARN = re.compile(r"arn:(aws[a-z-]*):iam::([0-9]{12}|aws|\{account_id\}):policy/[A-Za-z0-9_+=,.@/-]{1,512}")
_PATH = re.compile(r"/([A-Za-z0-9_+=,.@-]+/)*")
ANALYZER_ARN = re.compile(
    r"arn:(aws[a-z-]*):access-analyzer:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:analyzer/[A-Za-z0-9_.-]{1,255}"
)


_Strings = TypeVar("_Strings", bound=Collection[str])


# A role's name, with its path if it has one (`security/prowler-scan`).
ROLE_NAME = re.compile(r"(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}")


def _all(values: _Strings, valid: Callable[[str], object], problem: str) -> _Strings:
    """`values`, or ValueError naming those that are not `valid`."""
    bad = sorted(v for v in values if not valid(v))
    if bad:
        raise ValueError(f"{problem}: {', '.join(bad)}")
    return values


def partition_of(region: str) -> str:
    """The ARN partition of a region: aws, aws-cn or aws-us-gov."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _split(value: object) -> object:
    """A comma-separated variable's values (duplicates and blanks dropped), in order."""
    if isinstance(value, str):
        return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    return value


def _each(valid: Callable[[str], object], problem: str) -> AfterValidator:
    return AfterValidator(lambda values: _all(values, valid, problem))


def _optional(pattern: re.Pattern[str], problem: str) -> AfterValidator:
    return AfterValidator(lambda value: value if value is None else _all([value], pattern.fullmatch, problem)[0])


def _region_keys(value: object) -> object:
    """`region=key,...` as a dict."""
    if not isinstance(value, str):
        return value
    keys: dict[str, str] = {}
    for pair in (p.strip() for p in value.split(",") if p.strip()):
        region, sep, key = (part.strip() for part in pair.partition("="))
        if not (sep and region and key):
            raise ValueError(f"{pair!r} is not region=key (e.g. eu-west-1=alias/rekey)")
        keys[region] = key
    return keys


def _checked_template(value: str) -> str:
    check_template(value)
    return value


# The settings' kinds of value, each checked as it is read (a comma-separated variable a set).
_Set = Annotated[frozenset[str], BeforeValidator(_split)]
AccountIds = Annotated[_Set, _each(lambda a: a.isdigit() and len(a) == 12, "not 12-digit account ids")]
OuIds = Annotated[_Set, _each(_OU_ID.fullmatch, "not OU or root ids (ou-xxxx-xxxxxxxx, r-xxxx)")]
UserArns = Annotated[_Set, _each(_USER_ARN.fullmatch, "not IAM user ARNs (arn:aws:iam::111122223333:user/name)")]
RoleNames = Annotated[_Set, _each(ROLE_NAME.fullmatch, "not role names")]
Regions = Annotated[
    tuple[str, ...], BeforeValidator(_split), _each(_REGION.fullmatch, "not region names (e.g. eu-west-1)")
]
RegionKeys = Annotated[dict[str, str], BeforeValidator(_region_keys)]
Operators = Annotated[
    tuple[OperatorGrant, ...], BeforeValidator(lambda v: parse_operators(v) if isinstance(v, str) else v)
]
IamPath = Annotated[str, _each(_PATH.fullmatch, "not an IAM path (it starts and ends with /, e.g. /apps/)")]
RoleArn = Annotated[
    str | None, _optional(_ROLE_ARN, "not an IAM role ARN (arn:aws:iam::111122223333:role/rekey-org-reader)")
]
BoundaryArn = Annotated[
    str | None,
    _optional(
        _BOUNDARY_ARN,
        "not an IAM policy ARN (arn:aws:iam::{account_id}:policy/rekey-boundary; {account_id} stands for each "
        "user's account)",
    ),
]
AnalyzerArn = Annotated[
    str | None,
    _optional(
        ANALYZER_ARN, "not an Access Analyzer ARN (arn:aws:access-analyzer:us-east-1:111122223333:analyzer/name)"
    ),
]
SecretNameTemplate = Annotated[str, AfterValidator(_checked_template)]
Destinations = Annotated[
    tuple[Destination, ...], BeforeValidator(lambda v: parse_destinations(v) if isinstance(v, str) else v)
]

WaveList = Annotated[
    tuple[frozenset[str], ...], BeforeValidator(lambda v: parse_waves(v, 0).members if isinstance(v, str) else v)
]
RotationWindow = Annotated[Window | None, BeforeValidator(lambda v: parse_window(v) if isinstance(v, str) else v)]
SweepTime = Annotated[time | None, BeforeValidator(lambda v: sweep_time(v) if isinstance(v, str) else v)]


class RolloutSettings(BaseModel):
    """The settings of rotation windows, the breaker, the rollout's waves and the blast per
    account (rekey.domain.window, rekey.domain.rollout): a part of Settings."""

    # When keys may be created, deactivated and deleted (rekey.domain.window); None: any time.
    rotation_window: RotationWindow = None
    # When the daily sweep runs (UTC), from the hub's SweepSchedule: `rekey plan` puts each key
    # change at that time on its day. None: not a single time a day, or not known (the CLI).
    sweep_at: SweepTime = None
    # The hub's state table (rekey.adapters.hub_state): without it, neither breaker nor waves.
    state_table: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    # The breaker halts key changes everywhere when a day's signs of breakage reach both this
    # count (0: off) and this share of the day's key changes (rekey.domain.rollout).
    breaker_signs: int = Field(default=5, ge=0, le=10_000)
    breaker_share: float = Field(default=0.2, gt=0, le=1)
    # Rollout waves (`;`-separated lists of account and OU ids), and the days each must run a
    # change without breakage before the next takes it.
    waves: WaveList = ()
    wave_quiet_days: int = Field(default=3, ge=0, le=30)
    # At most this many of a member account's users are worked on at once (the work queue's
    # FIFO groups per account): a large account cannot starve the others or its IAM quota.
    account_concurrency: int = Field(default=4, ge=1, le=100)

    @property
    def threshold(self) -> Threshold:
        return Threshold(self.breaker_signs, self.breaker_share)

    @property
    def rollout(self) -> Waves:
        return Waves(self.waves, self.wave_quiet_days)


class AdvisorSettings(BaseModel):
    """The advisor's settings (rekey.use_cases.advise): a part of Settings."""

    # The advisor (rekey.use_cases.advise): whether the scan also says what should replace each
    # tagged user's active keys (a Security Hub finding per key, a line in the digest), and how
    # often: `weekly` runs on Mondays (UTC). `rekey advise` runs it whenever asked.
    advisor: Literal["off", "daily", "weekly"] = "off"
    # A key unused this long is `delete`; the regions whose event history the advisor reads
    # besides each key's last-used region (empty: the hub's region and us-east-1, where global
    # services' events are).
    advisor_unused_days: int = Field(default=90, ge=1, le=3650)
    advisor_regions: Regions = ()
    # An unused-access analyzer (IAM Access Analyzer) whose UnusedIAMUserAccessKey findings the
    # advisor reads as evidence, with the hub's own role: it must be in the hub's account (the
    # management account or Access Analyzer's delegated administrator). None: not read.
    advisor_analyzer_arn: AnalyzerArn = None


class Settings(RolloutSettings, AdvisorSettings):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    work_queue_url: str = Field(min_length=1)
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$")
    scan_queue_url: str | None = None
    spoke_role_name: str = Field(default="rekey-spoke", pattern=r"^[A-Za-z0-9_+=,.@/-]{1,64}$")
    # The spoke role that only reads (scan, plan, report); spoke_role_name is the writer's.
    spoke_reader_role_name: str = Field(default="rekey-spoke-reader", pattern=r"^[A-Za-z0-9_+=,.@/-]{1,64}$")
    # Besides the writer, the only role that may change a user's secret (rekey.domain.secret_policy).
    break_glass_role_arn: RoleArn = None
    # The organization (o-...): each secret's policy denies everything to principals outside it.
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    tag_key: str = Field(default="rekey:rotate", min_length=1, max_length=128)
    # The ages below default to the preset's (rekey.domain.controls.PRESETS); under `cis`, no
    # policy (org-wide or a user's tags) may keep a replaced key active past the preset's age.
    policy_preset: Preset = Preset.RECIPE
    rotate_after_days: int = 90
    deactivate_after_days: int = 100
    delete_after_days: int = 110
    max_rotate_after_days: int = Field(default=90, ge=1)
    max_delete_after_days: int = Field(default=365, ge=3)
    secret_name: SecretNameTemplate = "rekey/{user_name}"
    kms_key_id: str | None = None
    excluded_accounts: AccountIds = frozenset()
    # Roles (by name, in each member account) of the scanners a security team runs (Prowler, a
    # CSPM, AWS Config rules with their own role): the secrets' deny-by-default policy lets them
    # read the secrets' metadata and policy, never the value.
    secret_auditor_role_names: RoleNames = frozenset()
    # Each scan imports every tagged user's finding into Security Hub in its member account
    # (rekey.domain.findings); false where Security Hub is not used.
    security_hub_findings: bool = True
    scan_concurrency: int = Field(default=8, ge=1, le=64)
    # Each process's calls per second into one member account, per service (rekey.adapters.pace);
    # 0: not paced (the emulator has no rate to keep under).
    member_calls_per_second: float = Field(default=8.0, ge=0, le=1000)
    target_ous: OuIds = frozenset()
    in_use_warn_days: int = Field(default=3, ge=0, le=30)
    in_use_policy: InUsePolicy = InUsePolicy.ENFORCE
    in_use_max_defer_days: int = Field(default=7, ge=0, le=90)
    # Under REKEY_IN_USE_POLICY=adopt: the age at which an old key is deactivated even though its
    # replacement was never used (default: the day before its deletion age).
    max_deactivate_after_days: int | None = Field(default=None, ge=1)
    create_first_key: bool = False
    # The classic recipe's manual event on the worker: off unless asked for (its only authority is
    # lambda:InvokeFunction); when on, bound by the lifecycle's rules (rekey.domain.manual).
    classic_event: bool = False
    max_pause_days: int = Field(default=30, ge=1, le=365)
    # Floors of the per-user overrides (rekey:rotate-after-days...), so tags cannot take an
    # in-use key away within days, and the furthest an exemption may reach.
    min_rotate_after_days: int = Field(default=30, ge=1)
    min_overlap_days: int = Field(default=7, ge=1)
    max_exempt_days: int = Field(default=90, ge=1, le=3650)
    # Who rekey may act on: privileged users are refused unless named here (user ARNs); only
    # users under this path; only users carrying this permissions boundary (`{account_id}`: the
    # user's account).
    privileged_users_allowed: UserArns = frozenset()
    user_path_prefix: IamPath = "/"
    required_boundary_arn: BoundaryArn = None
    # The hub's digest queue: the sweep and scans record what they did there (rekey.digest).
    digest_queue_url: str | None = None
    # A role in the management account that lists the organization's accounts, for a hub in a
    # member account that is not a delegated administrator (spoke_templates/org-role.yaml).
    org_role_arn: RoleArn = None
    # Regions each user's secret is replicated to, and the KMS key of a replica by region
    # (`region=key,...`; a region without one uses aws/secretsmanager there).
    secret_replica_regions: Regions = ()
    secret_replica_kms_keys: RegionKeys = Field(default_factory=dict)
    # Who may ask the hub's operator endpoint for rotate-now and rollback, and on which accounts
    # (rekey.domain.operators): `<role ARN>=<*|account|OU>,...;...`. Empty: nobody.
    operators: Operators = ()
    # The rotation function Secrets Manager invokes in each member account (a relay handing each
    # step to the hub, spoke_templates/spoke-role.yaml): rekey's rotations go through Secrets
    # Manager's (rekey.use_cases.rotation). None: rekey stores keys itself, rotation not enabled.
    rotation_relay: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Where new keys are pushed, and who may select each (rekey.domain.delivery): the hub's
    # declaration, as JSON. A user's `rekey:deliver-to` tag only selects among these.
    destinations: Destinations = ()

    @model_validator(mode="before")
    @classmethod
    def _preset_ages(cls, values: Any) -> Any:
        """Ages not given explicitly are the preset's (an unknown preset fails its own field)."""
        if not isinstance(values, dict) or values.get("policy_preset", Preset.RECIPE) not in set(Preset):
            return values
        ages = PRESETS[Preset(values.get("policy_preset", Preset.RECIPE))]
        return {
            "rotate_after_days": ages.rotate_after_days,
            "deactivate_after_days": ages.deactivate_after_days,
            "delete_after_days": ages.delete_after_days,
            **values,
        }

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        _check_consistent(self)
        return self

    @property
    def policy(self) -> Policy:
        return Policy(
            self.rotate_after_days,
            self.deactivate_after_days,
            self.delete_after_days,
            in_use_warn_days=self.in_use_warn_days,
            in_use_policy=self.in_use_policy,
            in_use_max_defer_days=self.in_use_max_defer_days,
            create_first_key=self.create_first_key,
            max_deactivate_after_days=self.max_deactivate_after_days,
            window=self.rotation_window,
        )

    @property
    def bounds(self) -> Bounds:
        return Bounds(
            min_rotate_after_days=self.min_rotate_after_days,
            max_rotate_after_days=self.max_rotate_after_days,
            max_delete_after_days=self.max_delete_after_days,
            min_overlap_days=self.min_overlap_days,
            max_exempt_days=self.max_exempt_days,
            max_active_days=preset_ceiling(self.policy_preset),
        )

    @property
    def guard(self) -> Guard:
        return Guard(self.privileged_users_allowed, self.user_path_prefix, self.required_boundary_arn)

    def advisor_due(self, now: datetime) -> bool:
        """Whether the scheduled advisor runs today."""
        return self.advisor == "daily" or (self.advisor == "weekly" and now.weekday() == 0)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def hub_account_id(self) -> str:
        """The hub's account, read from the topic's ARN (no call needed)."""
        return self.topic_arn.split(":")[4]

    def secret_replicas(self) -> list[dict[str, str]]:
        """Secrets Manager's AddReplicaRegions for the configured regions."""
        return [
            {"Region": region, **({"KmsKeyId": key} if (key := self.secret_replica_kms_keys.get(region)) else {})}
            for region in self.secret_replica_regions
        ]

    def spoke_role_arn(self, account_id: str) -> str:
        """The spoke writer role in `account_id` (the worker's, for the work queue and for the
        operators' requests to the hub)."""
        return f"arn:{self.partition}:iam::{account_id}:role/{self.spoke_role_name}"

    def rotation_function_arn(self, account_id: str) -> str | None:
        """The relay Secrets Manager invokes to rotate the secrets of `account_id` (None: off)."""
        if not self.rotation_relay:
            return None
        return f"arn:{self.partition}:lambda:{self.region}:{account_id}:function:{self.rotation_relay}"

    def spoke_reader_role_arn(self, account_id: str) -> str:
        """The spoke reader role in `account_id` (the scan's, plan's and report's)."""
        return f"arn:{self.partition}:iam::{account_id}:role/{self.spoke_reader_role_name}"

    def secret_policy(self, user_arn: str, account_id: str) -> dict[str, Any]:
        """The resource policy rekey puts on the secret of `user_arn`, in `account_id`
        (rekey.domain.secret_policy): the worker's, and what an orphan's secret must hold."""
        return secret_policy(
            user_arn,
            self.spoke_role_arn(account_id),
            self.break_glass_role_arn,
            reader_role_arn=self.spoke_reader_role_arn(account_id),
            auditor_role_arns=[
                f"arn:{self.partition}:iam::{account_id}:role/{name}" for name in sorted(self.secret_auditor_role_names)
            ],
            organization_id=self.organization_id,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = REQUIRED) -> Settings:
        """Settings from the environment, or ConfigurationError with one clear line."""
        return from_environment(os.environ if env is None else env, require)


def from_environment(env: Mapping[str, str], require: tuple[str, ...]) -> Settings:
    """Settings from `env`'s variables, or ConfigurationError with one clear line."""
    missing = [name for name in require if not env.get(name)]
    if missing:
        raise ConfigurationError(f"missing required environment variable(s): {', '.join(missing)}")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError(NO_REGION)
    values: dict[str, object] = {"region": region}
    for variable, field in ENVIRONMENT.items():
        if env.get(variable, "").strip():
            values[field] = env[variable].strip()
    # Commands that need neither the queue nor the topic still get a valid model.
    values.setdefault("work_queue_url", "-")
    values.setdefault("topic_arn", f"arn:{partition_of(region)}:sns:{region}:000000000000:unset")
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(_one_line(exc)) from None


def _check_consistent(s: Settings) -> None:
    """ValueError for settings that cannot work together: a default policy outside the bounds;
    the reader under the writer's name (the secret's policy caps the reader to metadata reads:
    under the writer's name, the cap would stop every rotation); ARNs and regions of another
    partition, which can never work from this hub; replica keys without a replica."""
    try:
        check_policy(s.policy, s.bounds)
    except PolicyError as exc:
        raise ValueError(f"default policy: {exc}") from None
    if s.spoke_reader_role_name == s.spoke_role_name:
        raise ValueError("REKEY_SPOKE_READER_ROLE_NAME must differ from REKEY_SPOKE_ROLE_NAME (the writer)")
    if s.org_role_arn and s.org_role_arn.split(":")[1] != s.partition:
        raise ValueError(f"REKEY_ORG_ROLE_ARN is not in the hub's partition ({s.partition})")
    if s.advisor_analyzer_arn and s.advisor_analyzer_arn.split(":")[1] != s.partition:
        raise ValueError(f"REKEY_ADVISOR_ANALYZER_ARN is not in the hub's partition ({s.partition})")
    if s.break_glass_role_arn and s.break_glass_role_arn.split(":")[1] != s.partition:
        raise ValueError(f"REKEY_BREAK_GLASS_ROLE_ARN is not in the hub's partition ({s.partition})")
    for region in s.secret_replica_regions:
        if region == s.region:
            raise ValueError(f"REKEY_SECRET_REPLICA_REGIONS: {region} is the hub's own region (the primary)")
        if partition_of(region) != s.partition:
            raise ValueError(f"REKEY_SECRET_REPLICA_REGIONS: {region} is not in the {s.partition} partition")
    for grant in s.operators:
        if grant.role.partition != s.partition:
            raise ValueError(f"REKEY_OPERATORS: {grant.role_arn} is not in the hub's partition ({s.partition})")
    if s.waves and not s.state_table:
        raise ValueError("REKEY_WAVES needs REKEY_STATE_TABLE, where the waves' progress is kept")
    stray = sorted(set(s.secret_replica_kms_keys) - set(s.secret_replica_regions))
    if stray:
        raise ValueError(f"REKEY_SECRET_REPLICA_KMS_KEYS names regions without a replica: {', '.join(stray)}")


def _one_line(exc: ValidationError) -> str:
    fields = {v: k for k, v in ENVIRONMENT.items()}
    problems = []
    for error in exc.errors():
        loc = error["loc"][0] if error["loc"] else ""
        name = fields.get(str(loc), str(loc) or "settings")
        problems.append(f"{name}: {error['msg']}")
    return "invalid configuration: " + "; ".join(problems)
