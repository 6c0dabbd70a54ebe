"""Typed settings, read once from the environment (the same variables for Lambda and CLI)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .domain.errors import ConfigurationError
from .domain.models import InUsePolicy, Policy
from .domain.naming import check_template
from .domain.policy import Bounds, PolicyError, check_policy

# Environment variable -> field name. Documented in README's configuration table.
ENVIRONMENT = {
    "REKEY_WORK_QUEUE_URL": "work_queue_url",
    "REKEY_TOPIC_ARN": "topic_arn",
    "REKEY_SCAN_QUEUE_URL": "scan_queue_url",
    "REKEY_SPOKE_ROLE_NAME": "spoke_role_name",
    "REKEY_TAG_KEY": "tag_key",
    "REKEY_ROTATE_AFTER_DAYS": "rotate_after_days",
    "REKEY_DEACTIVATE_AFTER_DAYS": "deactivate_after_days",
    "REKEY_DELETE_AFTER_DAYS": "delete_after_days",
    "REKEY_MAX_ROTATE_AFTER_DAYS": "max_rotate_after_days",
    "REKEY_MAX_DELETE_AFTER_DAYS": "max_delete_after_days",
    "REKEY_SECRET_NAME": "secret_name",
    "REKEY_KMS_KEY_ID": "kms_key_id",
    "REKEY_EXCLUDED_ACCOUNTS": "excluded_accounts",
    "REKEY_SCAN_CONCURRENCY": "scan_concurrency",
    "REKEY_TARGET_OUS": "target_ous",
    "REKEY_IN_USE_WARN_DAYS": "in_use_warn_days",
    "REKEY_IN_USE_POLICY": "in_use_policy",
    "REKEY_IN_USE_MAX_DEFER_DAYS": "in_use_max_defer_days",
    "REKEY_CREATE_FIRST_KEY": "create_first_key",
    "REKEY_MAX_PAUSE_DAYS": "max_pause_days",
}
REQUIRED = ("REKEY_WORK_QUEUE_URL", "REKEY_TOPIC_ARN")
_OU_ID = re.compile(r"(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    region: str
    work_queue_url: str = Field(min_length=1)
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$")
    scan_queue_url: str | None = None
    spoke_role_name: str = Field(default="rekey-spoke", pattern=r"^[A-Za-z0-9_+=,.@/-]{1,64}$")
    tag_key: str = Field(default="rekey:rotate", min_length=1, max_length=128)
    rotate_after_days: int = 90
    deactivate_after_days: int = 100
    delete_after_days: int = 110
    max_rotate_after_days: int = Field(default=90, ge=1)
    max_delete_after_days: int = Field(default=365, ge=3)
    secret_name: str = "rekey/{user_name}"
    kms_key_id: str | None = None
    excluded_accounts: frozenset[str] = frozenset()
    scan_concurrency: int = Field(default=8, ge=1, le=64)
    target_ous: frozenset[str] = frozenset()
    in_use_warn_days: int = Field(default=3, ge=0, le=30)
    in_use_policy: InUsePolicy = InUsePolicy.ENFORCE
    in_use_max_defer_days: int = Field(default=7, ge=0, le=90)
    create_first_key: bool = False
    max_pause_days: int = Field(default=30, ge=1, le=365)

    @field_validator("target_ous")
    @classmethod
    def _ou_ids(cls, value: frozenset[str]) -> frozenset[str]:
        bad = sorted(ou for ou in value if not _OU_ID.fullmatch(ou))
        if bad:
            raise ValueError(f"not OU or root ids (ou-xxxx-xxxxxxxx, r-xxxx): {', '.join(bad)}")
        return value

    @field_validator("excluded_accounts", "target_ous", mode="before")
    @classmethod
    def _split_accounts(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("excluded_accounts")
    @classmethod
    def _account_ids(cls, value: frozenset[str]) -> frozenset[str]:
        bad = sorted(a for a in value if not (a.isdigit() and len(a) == 12))
        if bad:
            raise ValueError(f"not 12-digit account ids: {', '.join(bad)}")
        return value

    @field_validator("secret_name")
    @classmethod
    def _template(cls, value: str) -> str:
        check_template(value)
        return value

    @model_validator(mode="after")
    def _policy_in_bounds(self) -> Settings:
        try:
            check_policy(self.policy, self.bounds)
        except PolicyError as exc:
            raise ValueError(f"default policy: {exc}") from None
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
        )

    @property
    def bounds(self) -> Bounds:
        return Bounds(
            max_rotate_after_days=self.max_rotate_after_days, max_delete_after_days=self.max_delete_after_days
        )

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    def spoke_role_arn(self, account_id: str) -> str:
        return f"arn:{self.partition}:iam::{account_id}:role/{self.spoke_role_name}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = REQUIRED) -> Settings:
        """Settings from the environment, or ConfigurationError with one clear line."""
        env = os.environ if env is None else env
        missing = [name for name in require if not env.get(name)]
        if missing:
            raise ConfigurationError(f"missing required environment variable(s): {', '.join(missing)}")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise ConfigurationError("no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION)")
        values: dict[str, object] = {"region": region}
        for variable, field in ENVIRONMENT.items():
            if env.get(variable, "").strip():
                values[field] = env[variable].strip()
        # Commands that need neither the queue nor the topic still get a valid model.
        values.setdefault("work_queue_url", "-")
        values.setdefault("topic_arn", f"arn:aws:sns:{region}:000000000000:unset")
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigurationError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    fields = {v: k for k, v in ENVIRONMENT.items()}
    problems = []
    for error in exc.errors():
        loc = error["loc"][0] if error["loc"] else ""
        name = fields.get(str(loc), str(loc) or "settings")
        problems.append(f"{name}: {error['msg']}")
    return "invalid configuration: " + "; ".join(problems)
