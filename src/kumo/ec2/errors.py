"""Amazon's error codes (EC2 API reference, "Error codes for the Amazon EC2 API"), and kumo's
own errors translated to them: every refusal a client reads is Amazon-shaped, never a 5xx for
a client's mistake.

An ``Ec2Error`` carries the code, the message and the HTTP status EC2 answers with (400 for
request errors, 401 for AuthFailure, 403 for UnauthorizedOperation, 503 when a host fails).
"""

from __future__ import annotations

from kumo.errors import (Forbidden, HostError, InvalidInput, KumoError, NotFound, StateError,
                         Unauthorized, UserError)


class Ec2Error(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def auth_failure(message: str) -> Ec2Error:
    return Ec2Error("AuthFailure", message, 401)


def missing(name: str) -> Ec2Error:
    return Ec2Error("MissingParameter",
                    f"The request must contain the parameter {name}")


def invalid(message: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", message)


def from_kumo(e: KumoError, not_found: str = "InvalidParameterValue") -> Ec2Error:
    """kumo's error as EC2's: ``not_found`` is the code a NotFound gets in this context
    (InvalidAMIID.NotFound while resolving an image, ...)."""
    message = str(e)
    if isinstance(e, Unauthorized):
        return auth_failure(message)
    if isinstance(e, Forbidden):
        return Ec2Error("UnauthorizedOperation",
                        f"You are not authorized to perform this operation: {message}", 403)
    if isinstance(e, NotFound):
        return Ec2Error(not_found, message)
    if isinstance(e, StateError):
        return Ec2Error("IncorrectInstanceState", message)
    if isinstance(e, HostError):
        return Ec2Error("Unavailable", f"a hypervisor host failed: {message}", 503)
    if isinstance(e, (InvalidInput, UserError)):
        return invalid(message)
    return Ec2Error("InternalError", "An internal error has occurred", 500)
