"""AWS Secrets Manager: the user's secret, its staged and current versions, the rotation intent."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from ..domain.delivery import DeliveryStatus, status_tag
from ..domain.entities import NewKey, SecretRecord
from ..domain.errors import NotFound
from ..domain.models import SecretState
from ..domain.secret_state import (
    CHECKED_TAG,
    CURRENT,
    IN_USE_WARNED_TAG,
    INTENT_TAGS,
    PAUSED_UNTIL_TAG,
    PENDING,
    PREVIOUS,
    REVOKED_TAG,
    USER_ID_TAG,
    intent_tags,
    listed_state,
    parse_value,
    revoked_value,
    staged,
    version_token,
    warned_value,
)
from .errors import aws_call
from .paging import every_item

log = logging.getLogger(__name__)

# Which spoke role grants which group: rekey.runtime.SPOKE_ROLE_GROUPS.
PERMISSIONS = {
    # The scan's (the reader's): rekey's secrets, their tags and staging labels (no value).
    "spoke_list": ("secretsmanager:ListSecrets",),
    # Only on secrets named after the configured template (rekey/* by default), as all below.
    # A secret's state without its value (reader and writer).
    "spoke_describe": ("secretsmanager:DescribeSecret",),
    # The writer's: the secret's value, versions, tags, policy and replicas.
    "spoke_secret": (
        "secretsmanager:CreateSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:PutResourcePolicy",
        # Read back before an orphan key is deleted: only a secret carrying rekey's own policy
        # can hold an intent rekey wrote (rekey.use_cases.work).
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        # Secrets Manager's rotation of the secret (its function: the member's relay, which
        # hands each step to the hub; rekey.use_cases.rotation).
        "secretsmanager:RotateSecret",
        # Only with REKEY_SECRET_REPLICA_REGIONS: CreateSecret's AddReplicaRegions needs it too.
        "secretsmanager:ReplicateSecretToRegions",
    ),
    # RotateSecret's caller must be allowed to invoke the rotation function it names: the
    # account's rotation relay (spoke_templates/spoke-role.yaml), and only it.
    "spoke_rotation": ("lambda:InvokeFunction",),
}


class SecretsReader:
    """The users' secrets as they are: their tags and labels (the scan's reads), and the values
    the worker reads before it acts (a staged key, a current version someone else wrote)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def read(self, name: str, *, resolve_foreign: bool = True) -> SecretRecord:
        """The secret's state: 1 call. A secret handed over to rekey whose current version rekey
        did not write is read once more (GetSecretValue, which the reader role lacks) for its
        key id, or why its value is unusable: with `resolve_foreign` False its current key is
        left unknown, which only makes the scan propose what the worker then re-decides."""
        try:
            with aws_call(f"secretsmanager:DescribeSecret {name}"):
                meta = self._client.describe_secret(SecretId=name)
        except NotFound:
            return SecretRecord(SecretState())
        stages = meta.get("VersionIdsToStages", {})
        tags = _tags(meta)
        state = listed_state(stages, tags)
        current = staged(stages, CURRENT)
        owner = tags.get(USER_ID_TAG)
        checked = None if state.current_key_id or current is None else not state.current_unread
        if checked is not None and owner and resolve_foreign:
            key_id, unusable = self._current_value(name)
            state = replace(state, current_key_id=key_id, current_unusable=unusable, current_unread=False)
        replicas = meta.get("ReplicationStatus") or []
        for replica in replicas:
            if replica.get("Status") == "Failed":  # e.g. a secret of that name exists there already
                log.warning("replica of %s in %s: %s", name, replica.get("Region"), replica.get("StatusMessage"))
        regions = frozenset(r["Region"] for r in replicas if r.get("Region"))
        deleted = meta.get("DeletedDate")  # botocore gives epoch timestamps in local time
        rotating = bool(meta.get("RotationEnabled"))
        return SecretRecord(
            state,
            owner,
            current,
            staged(stages, PREVIOUS),
            staged(stages, PENDING),
            meta.get("RotationLambdaARN") if rotating else None,
            (meta.get("RotationRules") or {}).get("AutomaticallyAfterDays") if rotating else None,
            regions,
            deleted.astimezone(UTC) if deleted else None,
            foreign_current_checked=checked,
        )

    def _current_value(self, name: str) -> tuple[str | None, str | None]:
        """The key id in the current version someone else wrote, or why it has none. The value
        itself never leaves this method (nor any message)."""
        with aws_call(f"secretsmanager:GetSecretValue {name}"):
            value = self._client.get_secret_value(SecretId=name, VersionStage=CURRENT)
        return parse_value(value.get("SecretString"))

    def stage_key_id(self, name: str, stage: str) -> str | None:
        """The key id in a version written by someone else (e.g. the classic recipe)."""
        with aws_call(f"secretsmanager:GetSecretValue {name}"):
            value = self._client.get_secret_value(SecretId=name, VersionStage=stage)
        return parse_value(value.get("SecretString"))[0]

    def listed(self) -> dict[str, SecretState]:
        """Every secret rekey owns, by name, as its tags and staging labels say (1 call per 100
        secrets, no value read), those scheduled for deletion too: what the scan knows of users
        it does not read otherwise, and which users have a secret of rekey's at all."""
        secrets = every_item(
            self._client,
            "list_secrets",
            "SecretList",
            "secretsmanager:ListSecrets",
            Filters=[{"Key": "tag-key", "Values": [USER_ID_TAG]}],
            IncludePlannedDeletion=True,
        )
        return {s["Name"]: listed_state(s.get("SecretVersionsToStages", {}), _tags(s)) for s in secrets}

    def resource_policy(self, name: str) -> dict[str, Any] | None:
        """The secret's resource policy as Secrets Manager holds it (None: it has none, or it
        is not a JSON object)."""
        with aws_call(f"secretsmanager:GetResourcePolicy {name}"):
            text = self._client.get_resource_policy(SecretId=name).get("ResourcePolicy")
        try:
            document = json.loads(text) if text else None
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def staged_key(self, name: str, version_id: str) -> NewKey | None:
        """The key a staged version holds (None: the version holds none, e.g. Secrets Manager's
        empty one, or a value that is not a key): to test it, or finish a rotation."""
        try:
            with aws_call(f"secretsmanager:GetSecretValue {name}"):
                value = self._client.get_secret_value(SecretId=name, VersionId=version_id)
        except NotFound:  # a version without a value (AWS answers so for an empty one)
            return None
        key_id, unusable = parse_value(value.get("SecretString"))
        if key_id is None or unusable:
            return None
        created = value.get("CreatedDate") or datetime.now(UTC)
        return NewKey(key_id, json.loads(value["SecretString"])["SecretKey"], created)


class SecretsAdapter(SecretsReader):
    """The users' secrets, read and written: the worker's (through the spoke writer role)."""

    def mark_checked(self, name: str, version_id: str) -> None:
        """Record that the current version, written by someone else, holds a usable key."""
        with aws_call(f"secretsmanager:TagResource {name}"):
            self._client.tag_resource(SecretId=name, Tags=[{"Key": CHECKED_TAG, "Value": version_id}])

    def begin_rotation(
        self,
        name: str,
        *,
        exists: bool,
        owner_user_id: str,
        known_key_ids: list[str],
        at: datetime,
        policy: dict[str, Any],
        kms_key_id: str | None,
        replaces: str | None = None,
        replicas: list[dict[str, str]] | None = None,
        token: str | None = None,
    ) -> None:
        """Record the intent (creating the secret, empty, if needed), then put rekey's resource
        policy, every time: whatever anyone wrote on the secret before (a policy of their own,
        tags forged to look like rekey's), from here on only rekey changes it and only the user
        reads it, before any key exists. `replaces`: the key being replaced, kept after the
        rotation (for a rollback). `replicas`: AddReplicaRegions for a new secret (an existing
        one: see `replicate`). `token`: the version Secrets Manager's rotation stages the key in."""
        tags = _aws({USER_ID_TAG: owner_user_id, **intent_tags(at, known_key_ids, token, replaces)})
        if exists:
            with aws_call(f"secretsmanager:TagResource {name}"):
                self._client.tag_resource(SecretId=name, Tags=tags)
            self._put_policy(name, policy)
        else:
            self._create(name, tags, policy, kms_key_id, replicas)

    def create(
        self,
        name: str,
        *,
        owner_user_id: str,
        policy: dict[str, Any],
        kms_key_id: str | None,
        replicas: list[dict[str, str]] | None = None,
    ) -> None:
        """Create the user's secret empty, with rekey's policy, for Secrets Manager's rotation to
        store the first key in (its createSecret step records the intent)."""
        self._create(name, [{"Key": USER_ID_TAG, "Value": owner_user_id}], policy, kms_key_id, replicas)

    def _create(
        self,
        name: str,
        tags: list[dict[str, str]],
        policy: dict[str, Any],
        kms_key_id: str | None,
        replicas: list[dict[str, str]] | None,
    ) -> None:
        kwargs: dict[str, Any] = {"Name": name, "Description": "IAM access key managed by rekey", "Tags": tags}
        if kms_key_id:
            kwargs["KmsKeyId"] = kms_key_id
        if replicas:
            kwargs["AddReplicaRegions"] = replicas
        with aws_call(f"secretsmanager:CreateSecret {name}"):
            self._client.create_secret(**kwargs)
        self._put_policy(name, policy)

    def _put_policy(self, name: str, policy: dict[str, Any]) -> None:
        with aws_call(f"secretsmanager:PutResourcePolicy {name}"):
            self._client.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(policy), BlockPublicPolicy=True)

    def replicate(self, name: str, replicas: list[dict[str, str]]) -> None:
        """Replicate an existing secret to more regions. Secrets Manager then keeps each replica's
        versions, stages, tags and resource policy in sync with the primary by itself."""
        with aws_call(f"secretsmanager:ReplicateSecretToRegions {name}"):
            self._client.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=replicas)

    def stage(self, name: str, key: NewKey, *, first: bool = False, version_id: str | None = None) -> str:
        """Store the new key as AWSPENDING; retrying with the same key is a no-op. `first`: the
        secret has no current version, so the new one is labelled AWSCURRENT instead, explicitly
        (Secrets Manager does so implicitly for a first value, but a retried call must not
        depend on it: the emulator re-applies the labels asked for, dropping AWSCURRENT).
        `version_id`: the version Secrets Manager's rotation named (its ClientRequestToken),
        which then also carries the key's label. Returns the version's id."""
        value = json.dumps({"AccessKey": key.key_id, "SecretKey": key.secret_access_key})
        token = version_token(key.key_id)
        stages = [CURRENT] if first else [PENDING]
        if version_id is not None and version_id != token:
            stages.append(token)
        with aws_call(f"secretsmanager:PutSecretValue {name}"):
            self._client.put_secret_value(
                SecretId=name, SecretString=value, ClientRequestToken=version_id or token, VersionStages=stages
            )
        return version_id or token

    def promote(self, name: str, version_id: str, current_version_id: str | None) -> None:
        """Make the staged version AWSCURRENT (the old one, if any, becomes AWSPREVIOUS): 1 call,
        none when it is current already. AWSPENDING stays on the new current version, where it means nothing
        (rekey's state reads a pending version only when it is not current; Secrets Manager
        calls that state a finished rotation) and from where the next rotation moves it:
        removing it would cost a call every rotation."""
        if current_version_id == version_id:
            return
        move = {"RemoveFromVersionId": current_version_id} if current_version_id else {}
        with aws_call(f"secretsmanager:UpdateSecretVersionStage {name}"):
            self._client.update_secret_version_stage(
                SecretId=name, VersionStage=CURRENT, MoveToVersionId=version_id, **move
            )

    def drop_pending(self, name: str, version_id: str) -> None:
        """Take AWSPENDING off a version that is not current (a rotation rekey refused or
        abandoned): Secrets Manager refuses to start another rotation while it is there."""
        with aws_call(f"secretsmanager:UpdateSecretVersionStage {name}"):
            self._client.update_secret_version_stage(
                SecretId=name, VersionStage=PENDING, RemoveFromVersionId=version_id
            )

    def rotate(self, name: str, function_arn: str, days: int, *, immediately: bool) -> None:
        """Have Secrets Manager rotate the secret with `function_arn` every `days` days: now
        (`immediately`; it invokes the function's four steps, asynchronously), or only from the
        schedule (it then tests the function once: the testSecret step)."""
        with aws_call(f"secretsmanager:RotateSecret {name}"):
            self._client.rotate_secret(
                SecretId=name,
                RotationLambdaARN=function_arn,
                RotationRules={"AutomaticallyAfterDays": days},
                RotateImmediately=immediately,
            )

    def clear_intent(self, name: str) -> None:
        """Clear the rotation intent."""
        with aws_call(f"secretsmanager:UntagResource {name}"):
            self._client.untag_resource(SecretId=name, TagKeys=list(INTENT_TAGS))

    def pause(self, name: str, until: date) -> None:
        """Pause the user's lifecycle until `until` (inclusive)."""
        with aws_call(f"secretsmanager:TagResource {name}"):
            self._client.tag_resource(SecretId=name, Tags=[{"Key": PAUSED_UNTIL_TAG, "Value": until.isoformat()}])

    def mark_revoked(self, name: str, key_id: str, revoked: frozenset[str]) -> None:
        """Record that `key_id` was revoked as leaked (with the `revoked` ones recorded before)."""
        with aws_call(f"secretsmanager:TagResource {name}"):
            self._client.tag_resource(SecretId=name, Tags=_aws({REVOKED_TAG: revoked_value(key_id, revoked)}))

    def mark_in_use_warned(self, name: str, key_id: str, day: date) -> None:
        with aws_call(f"secretsmanager:TagResource {name}"):
            self._client.tag_resource(SecretId=name, Tags=_aws({IN_USE_WARNED_TAG: warned_value(key_id, day)}))

    def mark_delivery(self, name: str, destination: str, status: DeliveryStatus) -> None:
        """What `destination` was last sent (rekey.domain.delivery): 1 call."""
        with aws_call(f"secretsmanager:TagResource {name}"):
            self._client.tag_resource(SecretId=name, Tags=_aws({status_tag(destination): status.encode()}))


def _tags(secret: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in secret.get("Tags", [])}


def _aws(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
