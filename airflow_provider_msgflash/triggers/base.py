"""What every MsgFlash trigger guarantees: one event per run, whatever happens; its shared HTTP session closed
when the last trigger using it ends; serialised without a secret, under a stable class path; with ``end_task``,
a success that ends its task right there (no worker resumes it)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from airflow_provider_msgflash.exceptions import MsgFlashError, MsgFlashFinalError
from airflow_provider_msgflash.hooks.msgflash import close_shared_session
from airflow_provider_msgflash.statuses import EventStatus
from airflow_provider_msgflash.version_compat import BaseTrigger, TaskSuccessEvent, TriggerEvent

#: Where triggers are imported from when Airflow rebuilds them (a stable path: the classes may move).
PUBLIC_MODULE = "airflow_provider_msgflash.triggers.msgflash"
_users: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def shared_session_scope() -> AsyncIterator[None]:
    """A user of the loop's shared session (a trigger's run): the last one to leave closes it, so a loop that
    ends (``dags test``, a worker waiting inline) leaves no session open, while a triggerer keeps its pool."""
    loop = asyncio.get_running_loop()
    _users[loop] = _users.get(loop, 0) + 1
    try:
        yield
    finally:
        _users[loop] -= 1
        if _users[loop] <= 0:
            del _users[loop]
            await close_shared_session()


class MsgFlashBaseTrigger(BaseTrigger):
    """Base of the MsgFlash triggers (not used directly): subclasses implement :meth:`wait` and
    :meth:`payload`; :meth:`run` turns any exception into an ``error`` event."""

    #: The arguments that rebuild the trigger (ids and settings, never a secret), read back from the
    #: attributes of the same names.
    serialized_fields: tuple[str, ...] = ()

    def __init__(self, end_task: bool = False) -> None:
        super().__init__()
        #: On success, end the task here with :meth:`task_result` as its XCom ``return_value`` (a sensor started
        #: in the triggerer then never takes a worker slot); any other outcome resumes the task in a worker.
        self.end_task = end_task

    def kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild this trigger."""
        return {name: getattr(self, name) for name in self.serialized_fields}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{PUBLIC_MODULE}.{type(self).__name__}", self.kwargs()

    async def wait(self) -> dict[str, Any]:  # pragma: no cover - each trigger waits its own way
        """Wait for what the trigger watches; return the event's payload."""
        raise NotImplementedError

    def payload(self, status: str, message: str) -> dict[str, Any]:  # pragma: no cover - per trigger
        """An event's payload: ``status``, ``message`` and what the trigger's operator reads."""
        raise NotImplementedError

    @staticmethod
    def task_result(payload: dict[str, Any]) -> Any:  # pragma: no cover - per trigger
        """What the task returns (XCom ``return_value``) for a ``success`` payload: what its ``execute_complete``
        returns, so the task ends the same whether a worker resumes it or the trigger ends it."""
        raise NotImplementedError

    def error_payload(self, message: str, final: bool, retry_after: float | None = None) -> dict[str, Any]:
        """The payload of an ``error`` event; ``final`` when no retry of the task could help; ``retry_after``:
        the seconds MsgFlash asked to wait (its task's retry policy waits that long)."""
        payload = self.payload(EventStatus.ERROR.value, message) | {"final": final}
        return payload | {"retry_after": retry_after} if retry_after is not None else payload

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with shared_session_scope():
            try:
                payload = await self.wait()
            except asyncio.CancelledError:
                raise
            except MsgFlashError as e:
                payload = self.error_payload(str(e), isinstance(e, MsgFlashFinalError), e.retry_after)
            except Exception as e:  # a missing connection, a library surprise: still one event
                self.log.exception("The trigger failed unexpectedly.")
                payload = self.error_payload(f"{type(e).__name__}: {e}", False)
        if self.end_task and payload.get("status") == EventStatus.SUCCESS:
            self.log.info("%s: the task ends here, in the triggerer.", payload.get("message"))
            yield TaskSuccessEvent(xcoms={"return_value": self.task_result(payload)})
        else:
            yield TriggerEvent(payload)
