"""Connection → settings: Base URL forms, extras (as the UI stores them), unknown and prefixed extras."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_msgflash.connection import base_url_from
from airflow_provider_msgflash.exceptions import MsgFlashConfigError
from airflow_provider_msgflash.hooks.msgflash import MsgFlashAsyncHook, MsgFlashHook
from tests.hooks.msgflash_hookkit import personal_key, team_key


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://srv.msgflash.com"),
        ("", None, "https://srv.msgflash.com"),
        ("srv.msgflash.com", None, "https://srv.msgflash.com"),
        ("eu.msgflash.com/", None, "https://eu.msgflash.com"),
        ("  https://srv.msgflash.com/  ", None, "https://srv.msgflash.com"),
        ("localhost", None, "http://localhost"),
        ("localhost", 8080, "http://localhost:8080"),
        ("127.0.0.1:9000", None, "http://127.0.0.1:9000"),
        ("[::1]:9000", None, "http://[::1]:9000"),
        ("srv.msgflash.com:8443", None, "https://srv.msgflash.com:8443"),
        ("https://srv.msgflash.com", 8443, "https://srv.msgflash.com:8443"),
        ("https://srv.msgflash.com:9443", 8443, "https://srv.msgflash.com:9443"),  # the URL's port wins
        ("http://srv.msgflash.com", None, "http://srv.msgflash.com"),  # an explicit scheme is kept
        ("https://eu.msgflash.com/api/v1", None, "https://eu.msgflash.com"),
        ("https://eu.msgflash.com/api/v1/", None, "https://eu.msgflash.com"),
        ("http://127.0.0.1:8000/api/v1", None, "http://127.0.0.1:8000"),
        ("https://proxy.example.com/msgflash/api/v1", None, "https://proxy.example.com/msgflash"),
    ],
)
def test_base_url_forms(host, port, expected):
    assert base_url_from(host, port, "c") == expected


@pytest.mark.parametrize(
    "host",
    ["ftp://srv.msgflash.com", "http://", "://srv.msgflash.com", "localhost:abc", "srv.msgflash.com:99999"],
)
def test_junk_base_url_names_the_connection(host, set_conn):
    conn_id = set_conn(host, personal_key(), conn_id="my_msgflash")
    with pytest.raises(MsgFlashConfigError) as ei:
        MsgFlashHook(conn_id).settings  # noqa: B018
    assert ei.value.code == "BAD_CONNECTION"
    assert "'my_msgflash'" in str(ei.value)
    assert repr(host) in str(ei.value)
    assert "https://srv.msgflash.com" in str(ei.value)  # the fix: an example of a valid Base URL


def test_host_and_port_from_the_connection(set_conn):
    set_conn("localhost", personal_key(), port=8123)
    assert MsgFlashHook().settings.base_url == "http://localhost:8123"


def test_defaults_without_extras(set_conn):
    key = personal_key()
    set_conn("srv.msgflash.com", key)
    s = MsgFlashHook().settings
    assert (s.conn_id, s.base_url, s.api_key, s.team_id) == ("msgflash_default", "https://srv.msgflash.com", key, None)
    assert (s.timeout, s.max_retries, s.requests_per_second) == (30.0, 5, 10.0)


def test_extras_as_strings_from_the_ui(set_conn):
    # The UI stores form fields as strings; blank fields as "".
    set_conn(
        "srv.msgflash.com",
        personal_key(),
        extra={"timeout": "7.5", "max_retries": "2", "requests_per_second": "4", "team_id": ""},
    )
    s = MsgFlashHook().settings
    assert (s.timeout, s.max_retries, s.requests_per_second, s.team_id) == (7.5, 2, 4.0, None)
    assert isinstance(s.max_retries, int)


def test_extras_as_json_numbers_and_blank_strings(set_conn):
    set_conn("srv.msgflash.com", personal_key(), extra={"timeout": 12, "max_retries": 0, "requests_per_second": ""})
    s = MsgFlashHook().settings
    assert (s.timeout, s.max_retries, s.requests_per_second) == (12.0, 0, 10.0)


def test_hook_arguments_override_extras(set_conn):
    set_conn("srv.msgflash.com", personal_key(), extra={"timeout": "7", "max_retries": "4", "requests_per_second": 3})
    s = MsgFlashHook(timeout=2, max_retries=0, requests_per_second=0).settings
    assert (s.timeout, s.max_retries, s.requests_per_second) == (2.0, 0, 0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "abc"),
        ("timeout", "0"),
        ("timeout", -1),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", [30]),
        ("max_retries", "2.5"),
        ("max_retries", "-1"),
        ("max_retries", "many"),
        ("max_retries", "inf"),
        ("requests_per_second", "-1"),
        ("requests_per_second", "fast"),
        ("requests_per_second", "inf"),
    ],
)
def test_bad_extra_values_name_the_field(name, value, set_conn):
    conn_id = set_conn("srv.msgflash.com", personal_key(), extra={name: value}, conn_id="msgflash_bad_extra")
    with pytest.raises(MsgFlashConfigError) as ei:
        MsgFlashHook(conn_id).settings  # noqa: B018
    msg = str(ei.value)
    assert f"'{name}'" in msg
    assert "'msgflash_bad_extra'" in msg
    assert repr(value) in msg
    assert ei.value.code == "BAD_CONNECTION"


def test_bad_override_is_refused_too(set_conn):
    set_conn("srv.msgflash.com", personal_key())
    with pytest.raises(MsgFlashConfigError, match="'max_retries'"):
        MsgFlashHook(max_retries=-2).settings  # noqa: B018


async def test_async_hook_reads_the_same_settings(set_conn):
    key = personal_key()
    set_conn("localhost", key, port=9999, extra={"timeout": "3", "max_retries": "1", "requests_per_second": "0"})
    s = await MsgFlashAsyncHook().get_settings()
    assert (s.base_url, s.api_key, s.timeout, s.max_retries, s.requests_per_second) == (
        "http://localhost:9999",
        key,
        3.0,
        1,
        0.0,
    )


def test_unknown_extras_warn(set_conn, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_msgflash")
    set_conn("srv.msgflash.com", personal_key(), extra={"timeout": 5, "retries": 3, "teamid": "x"})
    s = MsgFlashHook().settings
    assert s.timeout == 5.0  # the known extra is used, the unknown ones ignored
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "unknown extra" in r.getMessage()]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert "retries" in msg and "teamid" in msg and "'msgflash_default'" in msg
    assert "team_id" in msg  # the known names are listed, so the typo is easy to spot


def test_known_extras_do_not_warn(set_conn, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_msgflash")
    set_conn("srv.msgflash.com", personal_key(), extra={"timeout": 5, "max_retries": 1, "requests_per_second": 2})
    MsgFlashHook().settings  # noqa: B018
    assert not [r for r in caplog.records if "unknown extra" in r.getMessage()]


def test_prefixed_extra_names_are_accepted(set_conn, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_msgflash")
    key, team = team_key(), "4b0c7bde-6f55-4d0c-9c36-0d2b8f2f4e11"
    set_conn(
        "srv.msgflash.com",
        key,
        extra={
            "extra__msgflash__team_id": team,
            "extra__msgflash__timeout": "3",
            "extra__msgflash__max_retries": "1",
            "extra__msgflash__requests_per_second": "2",
        },
    )
    s = MsgFlashHook().settings
    assert (s.team_id, s.timeout, s.max_retries, s.requests_per_second) == (team, 3.0, 1, 2.0)
    assert s.is_team_key
    assert not [r for r in caplog.records if "unknown extra" in r.getMessage()]


def test_headers_use_x_api_key_never_authorization(set_conn):
    key, team = team_key(), "team-uuid-1"
    set_conn("srv.msgflash.com", key, extra={"team_id": team})
    h = MsgFlashHook().settings.headers()
    assert h["x-api-key"] == key
    assert h["X-Team-Id"] == team
    assert not any(k.lower() == "authorization" for k in h)
