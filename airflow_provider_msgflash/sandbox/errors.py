"""The one exception the sandbox raises for an API failure, answered in the documented error envelope."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """An API failure: answered as ``{"error": {"code", "message", "details"?}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}


def validation_error(field_name: str, message: str) -> SandboxError:
    """``400 VALIDATION_ERROR`` naming ``field_name`` in the message and in ``details``."""
    return SandboxError(
        400, "VALIDATION_ERROR", f"{field_name}: {message}", [{"field": field_name, "message": message}]
    )


def not_found(what: str, ref: str, code: str = "NOT_FOUND") -> SandboxError:
    """``404`` for an unknown object (``code`` ``LOOKUP_NOT_FOUND`` for lookups)."""
    return SandboxError(404, code, f"{what} {ref!r} not found.")
