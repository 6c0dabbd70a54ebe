"""The hub's delivery destinations in the emulator's tests: a GitHub repository on the local fake
(rekey_dev.github_fake) and an SSM parameter, both approved for one member account."""

from __future__ import annotations

import json

from rekey_dev.github_fake import GitHubFake

from tests.conftest import Org

APP_KEY_SECRET = "rekey-delivery/github-app"
REPOSITORY = "acme/deploy"


def github_and_parameter(org: Org, github: GitHubFake, account: str = "payments") -> str:
    """REKEY_DESTINATIONS declaring `ci` (REPOSITORY on `github`, whose App is installed on its
    owner) and `params` (`/rekey/{user_name}/aws`), both approved for `account`; the GitHub App's
    private key stored in the hub's Secrets Manager, where the worker reads it."""
    org.emulator.client("secretsmanager").create_secret(Name=APP_KEY_SECRET, SecretString=github.private_key_pem)
    allow = {"accounts": [org.accounts[account]]}
    return json.dumps(
        {
            "ci": {
                "kind": "github-actions",
                "app_id": str(github.app_id),
                "installation_id": str(min(github.installations)),
                "private_key_secret": APP_KEY_SECRET,
                "repository": REPOSITORY,
                "api_url": github.url,
                "allow": allow,
            },
            "params": {"kind": "ssm-parameter", "name": "/rekey/{user_name}/aws", "allow": allow},
        }
    )
