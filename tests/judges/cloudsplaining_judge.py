"""Run by the judges' own python (.tools/judges, `make judges`), never imported by the tests:
cloudsplaining's verdict on policy documents, as JSON on stdout.

Input (a JSON file named by argv[1]): {"name": policy document, ...}. Output:
{"methods": cloudsplaining's PRIVILEGE_ESCALATION_METHODS, "flagged": {"name": [method, ...]}}
with only the documents cloudsplaining flags for privilege escalation. Its default exclusions
are not applied (they skip AWS service-role policies by name)."""

from __future__ import annotations

import json
import sys

from cloudsplaining.scan.policy_document import PolicyDocument
from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS
from cloudsplaining.shared.exclusions import Exclusions


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        documents = json.load(f)
    nothing_excluded = Exclusions({})
    flagged = {}
    for name, document in documents.items():
        found = PolicyDocument(document, exclusions=nothing_excluded).allows_privilege_escalation
        if found:
            flagged[name] = sorted(e["type"] for e in found)
    json.dump({"methods": PRIVILEGE_ESCALATION_METHODS, "flagged": flagged}, sys.stdout)


if __name__ == "__main__":
    main()
