"""A Lambda function URL with AuthType AWS_IAM, played on the embedded emulator: the hub's
operator endpoint (rekey.handlers.operator) for the tests and the demo.

Lambda cannot run on moto (no Docker), so this plays AWS's part in front of the function, as
the hub stack configures it:

- it authenticates the request's SigV4 signature (service `lambda`, the emulator's region)
  against the credentials moto issued: an IAM user's access key, or an STS session (its
  security token too); the signature is recomputed with botocore over exactly the headers the
  request says it signed, and a date more than 5 minutes off is refused;
- it applies the function's resource policy: lambda:InvokeFunctionUrl (and InvokeFunction
  through the URL) for principals of the hub's organization only (aws:PrincipalOrgID);
- anything else is refused with 403, as AWS answers, before the function runs;
- it invokes the production handler with the event a function URL delivers (payload format
  2.0, the caller in `requestContext.authorizer.iam`), under the function role's own
  credentials (issued in-process, as Lambda hands them to a function), with the function's
  configuration read at each request (a cold start each time: tests change it as they go).

Not modelled: the caller's identity policies (a principal of another account of the
organization also needs lambda:InvokeFunctionUrl in its own policies), throttling, payload
limits. Emulator only: nothing here is in the Lambda package."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from rekey.runtime import Runtime
from rekey.settings import Settings

log = logging.getLogger(__name__)

SERVICE = "lambda"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)
FORBIDDEN = 403

Handler = Callable[[dict[str, Any], Runtime], dict[str, Any]]


@dataclass(frozen=True)
class Identity:
    """Who an access key belongs to, as AWS would put it in `requestContext.authorizer.iam`."""

    arn: str
    account_id: str
    user_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret half
        return f"Identity(arn={self.arn!r}, ...)"


class NotAuthenticated(Exception):
    """Refused before the function runs (403): why, in one line (never a secret)."""


def identity_of(access_key_id: str, now: datetime | None = None) -> Identity | None:
    """The principal moto issued `access_key_id` to: an STS session that has not expired, or an
    IAM user's active access key; None for a key moto never issued (or the emulator's dummy)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)  # moto's are naive UTC
    for account_id in list(sts_backends.keys()):
        for backend in list(sts_backends[account_id].values()):
            session = backend.get_assumed_role_from_access_key(access_key_id)
            if session is not None:
                if session.expiration <= at:
                    return None
                return Identity(
                    session.arn, session.account_id, session.user_id, session.secret_access_key, session.session_token
                )
    for account_id in list(iam_backends.keys()):
        for backend in list(iam_backends[account_id].values()):
            for user in list(backend.users.values()):
                for key in user.access_keys:
                    if key.access_key_id == access_key_id:
                        if key.status != "Active":
                            return None
                        return Identity(user.arn, account_id, user.id, key.secret_access_key)
    return None


def organization_of(account_id: str) -> str | None:
    """The organization `account_id` belongs to (management or member), as moto keeps it."""
    from moto.organizations.models import organizations_backends

    for backend in list(organizations_backends[account_id].values()):
        if backend.org is not None:
            return str(backend.org.id)
    owner = organizations_backends.master_accounts.get(account_id)
    if owner is None:
        return None
    master, partition = owner
    org = organizations_backends[master][partition].org
    return str(org.id) if org is not None else None


class _Verifier(SigV4Auth):
    """botocore's SigV4 over exactly the headers the request says it signed."""

    def __init__(self, credentials: Credentials, region: str, signed_headers: list[str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed_headers = signed_headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name in self._signed_headers:
            headers[name] = request.headers[name]
        return headers


def authenticate(
    method: str, target: str, headers: Mapping[str, str], body: bytes, *, region: str, now: datetime | None = None
) -> Identity:
    """The caller who signed the request, or NotAuthenticated. `headers` with lower-case names."""
    authorization = headers.get("authorization", "")
    if not authorization.startswith(ALGORITHM + " "):
        raise NotAuthenticated("the request is not signed with SigV4 (Authorization: AWS4-HMAC-SHA256 ...)")
    try:
        fields = dict(part.strip().split("=", 1) for part in authorization[len(ALGORITHM) + 1 :].split(","))
        key_id, day, scope_region, service, terminator = fields["Credential"].split("/")
        signed_headers = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise NotAuthenticated("the Authorization header is malformed") from None
    if (scope_region, service, terminator) != (region, SERVICE, "aws4_request"):
        raise NotAuthenticated(f"the credential scope is not {region}/{SERVICE}/aws4_request")
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise NotAuthenticated("X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ") from None
    if stamp[:8] != day or abs((now or datetime.now(UTC)) - signed_at) > MAX_SKEW:
        raise NotAuthenticated("the signature's date is more than 5 minutes off, or not the credential's")
    if not {"host", "x-amz-date"} <= set(signed_headers) or not set(signed_headers) <= set(headers):
        raise NotAuthenticated("the signed headers must include host and x-amz-date, and all be present")
    identity = identity_of(key_id, now)
    if identity is None:
        raise NotAuthenticated("the access key is not valid (unknown, inactive or expired)")
    if identity.session_token is not None and not hmac.compare_digest(
        headers.get("x-amz-security-token", ""), identity.session_token
    ):
        raise NotAuthenticated("the security token is missing or not the session's")
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{target}",
        headers={name: headers[name] for name in signed_headers},
        data=body,
    )
    request.context["timestamp"] = stamp
    verifier = _Verifier(
        Credentials(key_id, identity.secret_access_key, identity.session_token), region, signed_headers
    )
    expected = verifier.signature(verifier.string_to_sign(request, verifier.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        raise NotAuthenticated("the request signature we calculated does not match the signature provided")
    return identity


def function_url_event(
    method: str, target: str, headers: Mapping[str, str], body: bytes, caller: Identity, *, account_id: str
) -> dict[str, Any]:
    """The event Lambda delivers for a request to a function URL (payload format 2.0)."""
    parts = urlsplit(target)
    host = headers.get("host", "")
    url_id = host.split(".", 1)[0].replace(":", "-")
    now = datetime.now(UTC)
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": dict(headers),
        "requestContext": {
            "accountId": account_id,
            "apiId": url_id,
            "authorizer": {
                "iam": {
                    "accessKey": headers["authorization"].split("Credential=", 1)[1].split("/", 1)[0],
                    "accountId": caller.account_id,
                    "callerId": caller.user_id,
                    "cognitoIdentity": None,
                    "principalOrgId": organization_of(caller.account_id),
                    "userArn": caller.arn,
                    "userId": caller.user_id,
                }
            },
            "domainName": host,
            "domainPrefix": url_id,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


@dataclass
class Function:
    """The function behind the URL: its handler, its role, its configuration."""

    handler: Handler
    account_id: str  # the function's (the hub's) account: its organization is the one allowed
    role_arn: str
    name: str
    region: str
    # The function's environment variables, read at each request.
    environment: Callable[[], Mapping[str, str]]
    # The settings its handler requires (or how to find them when its module is first imported).
    requires: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    # How its clients are made (a test's may count or fail their calls).
    make_client: Callable[..., Any] = boto3.client

    def runtime(self) -> Runtime:
        """The runtime the function builds, acting with its role's credentials."""
        session = role_session(self.account_id, self.region, self.role_arn, self.name)
        own = {
            "aws_access_key_id": session.access_key_id,
            "aws_secret_access_key": session.secret_access_key,
            "aws_session_token": session.session_token,
        }

        def make_client(service: str, **kwargs: Any) -> Any:
            # Clients for member accounts, or signed by a new key, bring their own credentials.
            return self.make_client(service, **(kwargs if "aws_access_key_id" in kwargs else {**own, **kwargs}))

        env = {**self.environment(), "AWS_REGION": self.region}
        requires = self.requires() if callable(self.requires) else self.requires
        return Runtime.build(Settings.from_env(env, require=requires), make_client)


def role_session(account_id: str, region: str, role_arn: str, function_name: str) -> Any:
    """An STS session of a function's role, issued by moto as Lambda hands one to the function
    (named after it): its access_key_id, secret_access_key and session_token."""
    from moto.sts.models import sts_backends

    return sts_backends[account_id]["aws"].assume_role(
        region_name=region,
        role_session_name=function_name,
        role_arn=role_arn,
        policy=None,
        duration=3600,
        external_id=None,
    )


def handler_module(name: str) -> tuple[Handler, Callable[[], tuple[str, ...]]]:
    """The `process(event, runtime)` of handler module `name` and its REQUIRES, imported at the
    first request (as Lambda imports a handler at a cold start), not when the URL is served."""
    import importlib

    def process(event: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
        return importlib.import_module(name).process(event, runtime)  # type: ignore[no-any-return]

    def requires() -> tuple[str, ...]:
        return tuple(getattr(importlib.import_module(name), "REQUIRES", ()))

    return process, requires


def deployed_function(configuration: Mapping[str, Any], *, region: str) -> Function:
    """The function a stack deployed (Lambda's GetFunctionConfiguration answer), as its URL
    runs it: its handler module's `process(event, runtime)` (the handlers' own entry for a
    runtime built elsewhere), its role, its environment variables."""
    process, requires = handler_module(str(configuration["Handler"]).rsplit(".", 1)[0])
    role_arn = str(configuration["Role"])
    # As Lambda passes them: strings (moto keeps the template's numbers as numbers).
    variables = {name: str(value) for name, value in configuration.get("Environment", {}).get("Variables", {}).items()}
    return Function(
        handler=process,
        account_id=role_arn.split(":")[4],
        role_arn=role_arn,
        name=str(configuration["FunctionName"]),
        region=region,
        environment=lambda: variables,
        requires=requires,
    )


class FunctionUrl:
    """A function URL (AuthType AWS_IAM) served on 127.0.0.1 until stopped."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="rekey-function-url", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> FunctionUrl:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """What AWS answers to one request: 403 before the function runs, or its answer."""
        f = self.function
        try:
            caller = authenticate(method, target, headers, body, region=f.region)
            allowed = organization_of(f.account_id)
            if allowed is None or organization_of(caller.account_id) != allowed:
                raise NotAuthenticated(f"{caller.arn} is not in the function's organization (aws:PrincipalOrgID)")
        except NotAuthenticated as refused:
            log.info("function URL %s refused a request: %s", f.name, refused)
            return FORBIDDEN, {"content-type": "application/json"}, json.dumps({"Message": "Forbidden"}).encode()
        event = function_url_event(method, target, headers, body, caller, account_id=f.account_id)
        try:
            answer = f.handler(event, f.runtime())
        except Exception:  # the function failed: Lambda answers 502
            log.exception("function %s failed", f.name)
            return 502, {"content-type": "application/json"}, json.dumps({"Message": "Internal Server Error"}).encode()
        answer_headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        text = answer.get("body") or ""
        payload = base64.b64decode(text) if answer.get("isBase64Encoded") else str(text).encode()
        return int(answer.get("statusCode", 200)), answer_headers, payload


def _handler_class(url: FunctionUrl) -> type[BaseHTTPRequestHandler]:
    class _Request(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer_headers, payload = url.serve(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in answer_headers.items():
                if name not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("function URL: " + format, *args)

    return _Request
