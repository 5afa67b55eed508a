"""Hooks for MsgFlash: :class:`MsgFlashHook` (sync, requests + tenacity) and :class:`MsgFlashAsyncHook`
(aiohttp, for triggers). This is their public import path.

Both take their settings from an Airflow connection of type ``msgflash``:

- **Base URL** (host): default ``https://srv.msgflash.com``; the sandbox's URL for local work.
- **API key** (password): ``msgf_live_`` + 64 hex characters, or a team key ``msgf_team_...``.
- **Extras**: ``team_id`` (required with a team key, refused with a personal key), ``timeout``
  (seconds per request, default 30), ``max_retries`` (default 5), ``requests_per_second`` (the
  client-side limit of the key, default 10, 0 = off) and ``rate_limit_backend`` (who shares that limit:
  ``host``, the default, for every process on this machine; ``process``; or a Redis URL for every machine).

Where things live: the API's routes, envelope, errors and retry policy in
:mod:`airflow_provider_msgflash.api`; conversations of several requests in :mod:`.flows`; the two
transports in :mod:`.sync_hook` and :mod:`.async_hook`; transport-error translation in :mod:`.transport`.
"""

from __future__ import annotations

from airflow_provider_msgflash.connection_form import CONN_TYPE
from airflow_provider_msgflash.hooks.async_hook import MsgFlashAsyncHook, close_shared_session
from airflow_provider_msgflash.hooks.base import DEFAULT_CONN_ID, MsgFlashBaseHook
from airflow_provider_msgflash.hooks.sync_hook import MsgFlashHook

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "MsgFlashAsyncHook",
    "MsgFlashBaseHook",
    "MsgFlashHook",
    "close_shared_session",
]
