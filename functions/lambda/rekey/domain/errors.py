"""Domain errors: adapters translate AWS error codes into these; nothing branches on message text."""


class RekeyError(Exception):
    """Base of every error rekey raises on purpose."""

    code = "error"


class AccessDenied(RekeyError):
    code = "access-denied"


class AccountUnreachable(AccessDenied):
    """The hub could not assume its role in a member account (the role missing, or not trusting
    the hub): the account is unreachable, which is not rekey breaking anything (the breaker does
    not count it)."""


class NotFound(RekeyError):
    code = "not-found"


class Throttled(RekeyError):
    code = "throttled"


class LimitExceeded(RekeyError):
    code = "limit-exceeded"


class Conflict(RekeyError):
    """The resource changed under us (a concurrent worker, a reused token)."""

    code = "conflict"


class Unavailable(RekeyError):
    """The service failed or could not be reached after retries."""

    code = "unavailable"


class InvalidRequest(RekeyError):
    code = "invalid-request"


class KeyVerificationFailed(RekeyError):
    """A freshly created key did not authenticate as its user within the retry window."""

    code = "key-verification-failed"


class ConfigurationError(RekeyError):
    code = "configuration"


class UsageError(RekeyError):
    """An operator's command names something that does not exist or is out of rekey's reach."""

    code = "usage"


class Refused(RekeyError):
    """An operator's request would break an invariant, or has nothing to act on."""

    code = "refused"


class Forbidden(RekeyError):
    """The caller may not ask this: not an operator of the hub (REKEY_OPERATORS), or not for
    this account."""

    code = "forbidden"
