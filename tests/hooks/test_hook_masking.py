"""The API key never shows up in logs, exceptions or reprs, and it is registered with Airflow's secrets
masker when the hook reads it."""

from __future__ import annotations

import logging
import traceback

import pytest

from airflow_provider_msgflash.exceptions import MsgFlashError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from airflow_provider_msgflash.version_compat import BaseHook
from tests.hooks.msgflash_hookkit import personal_key, team_key


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def task_logger_records():
    """Records reaching Airflow's task logger (``airflow.task``, where hook loggers live)."""
    handler = _Collect()
    logger = logging.getLogger("airflow.task")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def _exc_texts(exc: BaseException) -> list[str]:
    return [
        str(exc),
        repr(exc),
        repr(vars(exc)),
        "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    ]


def _script_failures_and_successes(fake_api):
    fake_api.on("GET", "/instances", fake_api.ok([{"id": "inst-1", "status": "connected"}]))
    fake_api.on("GET", "/instances/inst-1", fake_api.ok({"id": "inst-1"}))
    fake_api.on("GET", "/instances/bad", fake_api.err(401, "UNAUTHORIZED", "Invalid or revoked API key"))
    fake_api.on("GET", "/instances/bad/state", fake_api.err(401, "UNAUTHORIZED", "Invalid or revoked API key"))
    fake_api.on("GET", "/instances/flaky/state", fake_api.err(500, "INTERNAL_ERROR", "boom"))
    fake_api.on("GET", "/instances/slow/health", fake_api.ok({}, delay=0.8))
    fake_api.on("GET", "/number-lookups/l-1/progress", fake_api.Reply(502, "<html>Bad Gateway</html>"))
    fake_api.on("POST", "/number-lookups", fake_api.Reply(drop=True))
    fake_api.on("GET", "/number-lookups", fake_api.ok({"lookups": [], "nextCursor": None, "hasMore": False}))


def _assert_nowhere(key, texts):
    secret_tail = key.split("_")[-1]
    for text in texts:
        assert key not in text
        assert secret_tail[:20] not in text


def test_sync_hook_never_shows_the_key(fake_api, fake_conn, caplog, capfd, task_logger_records):
    caplog.set_level(logging.DEBUG)
    fake_conn(max_retries=1, timeout=0.3, retries="3")  # an unknown extra: a warning names the connection
    key = fake_conn.key
    _script_failures_and_successes(fake_api)
    hook = MsgFlashHook()
    assert hook.list_instances()
    assert hook.get_instance("inst-1") == {"id": "inst-1"}
    errors: list[BaseException] = []
    for fn in (
        lambda: hook.get_instance("bad"),
        lambda: hook.get_instance_state("flaky"),
        lambda: hook.get_instance_health("slow"),
        lambda: hook.get_number_lookup_progress("l-1"),
        lambda: hook.create_number_lookup("inst-1", ["+41791234560"]),
    ):
        with pytest.raises(MsgFlashError) as ei:
            fn()
        errors.append(ei.value)
    ok, message = hook.test_connection()
    assert ok is True

    out = capfd.readouterr()
    logs = [caplog.text, out.out, out.err, message]
    logs += [r.getMessage() for r in caplog.records + task_logger_records]
    logs += [repr(r.args) for r in caplog.records + task_logger_records]
    texts = logs + [t for e in errors for t in _exc_texts(e)]
    texts += [repr(hook), repr(hook.settings), str(hook.settings), repr(vars(hook.settings).get("conn_id"))]
    _assert_nowhere(key, texts)
    # ...and the logs and errors did say what happened (this test is not vacuous)
    assert "unknown extra" in caplog.text
    assert "try 1 of 2" in out.out  # the 5xx retry was logged
    assert "may have been processed by MsgFlash" in out.out  # the unclear create answer was logged
    assert {type(e).__name__ for e in errors} >= {"MsgFlashAuthError", "MsgFlashServerError", "MsgFlashConnectionError"}
    assert "msgflash_default" in repr(hook)
    assert fake_api.requests and all(s.headers["x-api-key"] == key for s in fake_api.requests)


async def test_async_hook_never_shows_the_key(fake_api, fake_conn, caplog, capfd, task_logger_records):
    caplog.set_level(logging.DEBUG)
    fake_conn(max_retries=1, timeout=0.3)
    key = fake_conn.key
    _script_failures_and_successes(fake_api)
    hook = MsgFlashAsyncHook()
    assert await hook.list_instances()
    errors: list[BaseException] = []
    for make in (
        lambda: hook.get_instance_state("bad"),
        lambda: hook.get_instance_state("flaky"),
        lambda: hook.get_instance_health("slow"),
        lambda: hook.get_number_lookup_progress("l-1"),
    ):
        with pytest.raises(MsgFlashError) as ei:
            await make()
        errors.append(ei.value)
    out = capfd.readouterr()
    settings = await hook.get_settings()
    texts = [caplog.text, out.out, out.err, repr(hook), repr(settings), str(settings)]
    texts += [r.getMessage() for r in caplog.records + task_logger_records]
    texts += [t for e in errors for t in _exc_texts(e)]
    _assert_nowhere(key, texts)
    assert "try 1 of 2" in out.out
    assert "msgflash_default" in repr(hook)


def test_team_key_and_config_errors_never_show_the_key(fake_api, set_conn):
    key = team_key()
    set_conn(fake_api.url, key)  # no team id
    hook = MsgFlashHook()
    with pytest.raises(MsgFlashError) as ei:
        hook.list_instances()
    _assert_nowhere(key, [*_exc_texts(ei.value), repr(hook), hook.test_connection()[1]])


def _masker():
    """The Task SDK's secrets masker (Airflow 3.1+; the matrix does not run the two tests using it on
    older lines, whose maskers have another API)."""
    from airflow.sdk._shared import secrets_masker

    return secrets_masker


@pytest.fixture
def fresh_masker():
    m = _masker()
    m.reset_secrets_masker()
    was_enabled = m.SecretsMasker.is_log_masking_enabled()
    m.SecretsMasker.enable_log_masking()
    yield m._secrets_masker()
    if not was_enabled:
        m.SecretsMasker.disable_log_masking()
    m.reset_secrets_masker()


def _assert_masked(key):
    m = _masker()
    line = f"calling MsgFlash with x-api-key={key}"
    assert key not in m.redact(line)
    record = logging.LogRecord("airflow.task", logging.INFO, __file__, 1, "key is %s", (key,), None)
    m._secrets_masker().filter(record)
    assert key not in record.getMessage()


def test_sync_hook_registers_the_key_with_the_secrets_masker(monkeypatch, fresh_masker, fake_api):
    from airflow.sdk import Connection

    key = personal_key()
    # A connection object that did not go through Airflow's own (masking) lookup: only the hook masks.
    conn = Connection(conn_id="msgflash_default", conn_type="msgflash", host=fake_api.url, password=key)
    monkeypatch.setattr(MsgFlashHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    line = f"x-api-key={key}"
    assert _masker().redact(line) == line  # nobody has registered it yet
    assert MsgFlashHook().settings.api_key == key
    _assert_masked(key)


async def test_async_hook_registers_the_key_with_the_secrets_masker(monkeypatch, fresh_masker, fake_api):
    import airflow.providers.common.compat.connection as compat_connection
    from airflow.sdk import Connection

    key = personal_key()
    conn = Connection(conn_id="msgflash_default", conn_type="msgflash", host=fake_api.url, password=key)

    async def get_async_connection(conn_id, hook=None):
        return conn

    # Both lookups the line may use (async where Airflow masks asynchronously, else sync in a thread).
    monkeypatch.setattr(compat_connection, "get_async_connection", get_async_connection)
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: conn))
    line = f"x-api-key={key}"
    assert _masker().redact(line) == line
    assert (await MsgFlashAsyncHook().get_settings()).api_key == key
    _assert_masked(key)
