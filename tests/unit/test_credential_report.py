"""The credential report's unquoted CSV, including user names with commas."""

from __future__ import annotations

from datetime import UTC, datetime

from rekey.adapters.iam import parse_credential_report

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
    "cert_2_active,cert_2_last_rotated"
)


def row(user: str, arn: str, key1: tuple[str, str] | None, key2: tuple[str, str] | None = None) -> str:
    def key(k: tuple[str, str] | None) -> str:
        if k is None:
            return "false,N/A,N/A,N/A,N/A"
        return f"{k[0]},{k[1]},N/A,N/A,N/A"

    return f"{user},{arn},2026-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,{key(key1)},{key(key2)},false,N/A,false,N/A"


def test_parses_keys_per_arn_even_with_commas_in_names() -> None:
    arn_plain = "arn:aws:iam::111111111111:user/svc"
    arn_comma = "arn:aws:iam::111111111111:user/teams/a,b,c"
    content = "\n".join(
        [
            HEADER,
            "<root_account>,arn:aws:iam::111111111111:root,2026-01-01T00:00:00+00:00,not_supported,N/A,"
            "not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
            row("svc", arn_plain, ("true", "2026-02-01T10:00:00+00:00")),
            row("a,b,c", arn_comma, ("false", "2026-01-01T00:00:00+00:00"), ("true", "2026-03-01T00:00:00+00:00")),
            row("nokeys", "arn:aws:iam::111111111111:user/nokeys", None),
        ]
    )
    report = parse_credential_report(content)
    assert [(k.active, k.created) for k in report[arn_plain]] == [(True, datetime(2026, 2, 1, 10, tzinfo=UTC))]
    assert [k.active for k in report[arn_comma]] == [False, True]
    assert report["arn:aws:iam::111111111111:user/nokeys"] == []


def test_empty_report() -> None:
    assert parse_credential_report("") == {}
    assert parse_credential_report(HEADER) == {}
