"""Translate botocore errors into rekey's domain errors, by error code only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from ..domain import errors

_BY_CODE: dict[str, type[errors.RekeyError]] = {
    "AccessDenied": errors.AccessDenied,
    "AccessDeniedException": errors.AccessDenied,
    "UnauthorizedOperation": errors.AccessDenied,
    "AWSOrganizationsNotInUseException": errors.AccessDenied,
    "InvalidClientTokenId": errors.AccessDenied,
    "ExpiredToken": errors.AccessDenied,
    # Security Hub's answer in an account where it is not enabled.
    "InvalidAccessException": errors.AccessDenied,
    "NoSuchEntity": errors.NotFound,
    "ResourceNotFoundException": errors.NotFound,
    "AWS.SimpleQueueService.NonExistentQueue": errors.NotFound,
    "NotFound": errors.NotFound,
    "Throttling": errors.Throttled,
    "ThrottlingException": errors.Throttled,
    "TooManyRequestsException": errors.Throttled,
    "RequestLimitExceeded": errors.Throttled,
    "LimitExceeded": errors.LimitExceeded,
    "LimitExceededException": errors.LimitExceeded,
    "ResourceExistsException": errors.Conflict,
    "EntityAlreadyExists": errors.Conflict,
    "ConcurrentModification": errors.Conflict,
    "InvalidRequestException": errors.InvalidRequest,
    "InvalidParameterException": errors.InvalidRequest,
    "InvalidParameterValue": errors.InvalidRequest,
    "ValidationError": errors.InvalidRequest,
    "ServiceFailure": errors.Unavailable,
    "InternalFailure": errors.Unavailable,
    "InternalServiceError": errors.Unavailable,
    "ServiceUnavailable": errors.Unavailable,
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> errors.RekeyError:
    """A domain error for a botocore failure, naming the call and the AWS code, never the payload."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = _BY_CODE.get(code)
        if kind is None:
            kind = errors.Unavailable if status >= 500 else errors.RekeyError
        detail = f"{what}: {code or status}"
        if issubclass(kind, errors.AccessDenied):
            # Denials name the principal and action, which is what an operator needs. Other
            # messages are left out: validation errors may echo request values.
            detail += f" ({exc.response.get('Error', {}).get('Message', '')[:300]})"
        return kind(detail)
    return errors.Unavailable(f"{what}: {type(exc).__name__}")


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Run AWS calls, raising domain errors instead of botocore ones."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from None
