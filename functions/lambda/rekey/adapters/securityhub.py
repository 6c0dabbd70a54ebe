"""Security Hub in one member account: rekey's findings imported and read back (ASFF)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain import errors
from ..domain.findings import FINDINGS_PER_CALL, GENERATOR_ID
from .errors import aws_call
from .paging import every_page

# The scan's (the reader's). BatchImportFindings only into the account's own default product
# (a finding is imported by its own account); GetFindings has no narrower resource than the
# account's hub.
PERMISSIONS = {"spoke_findings": ("securityhub:BatchImportFindings", "securityhub:GetFindings")}


class SecurityHubAdapter:
    def __init__(self, client: Any) -> None:
        self._client = client

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> None:
        """Create or update the findings, 100 a call. Raises InvalidRequest naming the first
        finding Security Hub refused (by Id and error code), after importing the rest."""
        refused: list[dict[str, Any]] = []
        for start in range(0, len(findings), FINDINGS_PER_CALL):
            with aws_call("securityhub:BatchImportFindings"):
                answer = self._client.batch_import_findings(Findings=list(findings[start : start + FINDINGS_PER_CALL]))
            refused += answer.get("FailedFindings", [])
        if refused:
            first = refused[0]
            raise errors.InvalidRequest(
                f"securityhub:BatchImportFindings refused {len(refused)} finding(s), first {first.get('Id')}: "
                f"{first.get('ErrorCode')}"
            )

    def rekey_findings(self, account_id: str) -> list[dict[str, Any]]:
        """rekey's findings in the account, active and archived, as Security Hub holds them:
        ⌈findings/100⌉ calls (filtered here too: the emulator filters nothing)."""
        filters = {
            "GeneratorId": [{"Value": GENERATOR_ID, "Comparison": "EQUALS"}],
            "AwsAccountId": [{"Value": account_id, "Comparison": "EQUALS"}],
        }
        pages = every_page(
            self._client, "get_findings", "securityhub:GetFindings", page_size=FINDINGS_PER_CALL, Filters=filters
        )
        return [
            f
            for page in pages
            for f in page.get("Findings", [])
            if f.get("GeneratorId") == GENERATOR_ID and f.get("AwsAccountId") == account_id
        ]
