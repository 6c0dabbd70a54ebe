"""The hub's operator endpoint as the CLI reaches it (rekey_cli.ports.HubEndpoint): a POST signed
with the operator's own AWS credentials (SigV4, service `lambda`, botocore's signer and
credential chain) to the function URL in REKEY_OPERATOR_URL (the hub stack's OperatorUrl
output). Built by the composition root (rekey_cli.cli) only."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import botocore.session
from botocore import exceptions as aws
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session

from rekey.domain import errors
from rekey.messages import OperatorCommand

OPERATOR_URL = "REKEY_OPERATOR_URL"
SERVICE = "lambda"
# Longer than the operator function's timeout (hub/template.yaml): its answer is worth waiting for.
TIMEOUT_SECONDS = 150
# https://<url-id>.lambda-url.<region>.on.aws
_FUNCTION_URL_HOST = re.compile(r"[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws")


class SignedEndpoint:
    """The endpoint REKEY_OPERATOR_URL names in `env` (read when a request is sent, so that a
    wrong argument is reported before a missing setting)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    def post(self, request: OperatorCommand) -> tuple[int, bytes]:
        url = self._env.get(OPERATOR_URL, "").strip()
        if not url:
            raise errors.ConfigurationError(
                f"{OPERATOR_URL} is not set: rotate-now and rollback are carried out by the hub; "
                "set it to the hub stack's OperatorUrl output"
            )
        if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).netloc:
            raise errors.ConfigurationError(f"{OPERATOR_URL}={url!r} is not an https:// URL (the hub's OperatorUrl)")
        session = botocore.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise aws.NoCredentialsError()
        signed = AWSRequest(
            method="POST",
            url=url,
            data=request.model_dump_json().encode(),
            headers={"Content-Type": "application/json"},
        )
        SigV4Auth(credentials.get_frozen_credentials(), SERVICE, _region(url, session)).add_auth(signed)
        try:
            response = URLLib3Session(timeout=TIMEOUT_SECONDS).send(signed.prepare())
        except (aws.ConnectionError, aws.HTTPClientError) as exc:
            raise errors.Unavailable(f"cannot reach the hub's operator endpoint {url}: {exc}") from None
        return response.status_code, response.content


def _region(url: str, session: botocore.session.Session) -> str:
    """The function URL's own region, else the configured one (an emulator's URL names none)."""
    host = _FUNCTION_URL_HOST.fullmatch(urlsplit(url).hostname or "")
    region = host.group(1) if host else session.get_config_variable("region")
    if not region:
        raise aws.NoRegionError()
    return str(region)
