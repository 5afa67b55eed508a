"""The ``msgflash`` connection form, declared once.

From :data:`EXTRA_FIELDS`, :data:`HIDDEN_FIELDS`, :data:`RELABELING` and :data:`PLACEHOLDERS` this module
generates every form Airflow reads:

- the declarative form of ``get_provider_info()`` (``conn-fields`` and ``ui-field-behaviour``), which
  Airflow 3.2+ reads without importing the hook;
- the hook's ``get_ui_field_behaviour()`` and ``get_connection_form_widgets()`` (wtforms), which Airflow
  2.11, 3.0 and 3.1 read from the hook class.

Kept free of heavy imports: Airflow reads it while listing providers; wtforms is imported only when
the widgets are asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_msgflash.api.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RATE_LIMIT_BACKEND,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
)

CONN_TYPE = "msgflash"
HOOK_NAME = "MsgFlash"


@dataclass(frozen=True)
class ExtraField:
    """One field of the connection's extras.

    :param kind: ``string``, ``number`` (fractions allowed) or ``integer``.
    :param minimum: the smallest accepted value (numbers only).
    :param above: a value the field must be greater than (numbers only; JSON schema ``exclusiveMinimum``).
    """

    name: str
    label: str
    kind: str
    description: str
    default: float | int | str | None = None
    minimum: float | int | None = None
    above: float | int | None = None


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "team_id",
        "Team id",
        "string",
        "Team UUID, required with a team key (msgf_team_...), refused with a personal key.",
    ),
    ExtraField(
        "timeout",
        "Request timeout (s)",
        "number",
        "Seconds to wait for one answer (fractions allowed, e.g. 0.5).",
        DEFAULT_TIMEOUT,
        above=0,
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        "integer",
        "Retries of 429 API_RATE_LIMIT_EXCEEDED, 5xx and connection errors.",
        DEFAULT_MAX_RETRIES,
        0,
    ),
    ExtraField(
        "requests_per_second",
        "Requests per second",
        "number",
        "Client-side limit shared by every task and trigger using this key on one machine (MsgFlash "
        "allows 10; fractions allowed, e.g. 0.5); 0 turns it off.",
        DEFAULT_REQUESTS_PER_SECOND,
        0,
    ),
    ExtraField(
        "rate_limit_backend",
        "Rate limit shared by",
        "string",
        "host (default: every task and trigger on this machine), process (this process only), or a Redis "
        "URL such as redis://redis:6379/0 (every machine using the key: Celery workers, triggerers); a Redis "
        "URL needs the [redis] extra.",
        DEFAULT_RATE_LIMIT_BACKEND,
    ),
)

HIDDEN_FIELDS: tuple[str, ...] = ("schema", "login", "port")
RELABELING: dict[str, str] = {"host": "Base URL", "password": "API key"}
PLACEHOLDERS: dict[str, str] = {
    "host": DEFAULT_BASE_URL,
    "password": "msgf_live_... (or msgf_team_... with a team id)",
    "extra": '{"team_id": "<team uuid, team keys only>", '
    + ", ".join(f'"{f.name}": {json.dumps(f.default)}' for f in EXTRA_FIELDS if f.default is not None)
    + "}",
}

#: A number as the Airflow 2 form's text box accepts it (wtforms has no fraction field Airflow allows).
NUMBER_PATTERN = r"^\s*\d+(\.\d+)?\s*$"


def ui_field_behaviour(declarative: bool = False) -> dict[str, Any]:
    """Hidden, relabelled and placeholder fields: hyphenated keys for ``get_provider_info()``
    (``declarative=True``), underscored ones for the hook's ``get_ui_field_behaviour()``."""
    keys = ("hidden-fields",) if declarative else ("hidden_fields",)
    return {keys[0]: list(HIDDEN_FIELDS), "relabeling": dict(RELABELING), "placeholders": dict(PLACEHOLDERS)}


def conn_fields() -> dict[str, Any]:
    """The extras as Airflow 3.2+'s declarative ``conn-fields`` (a JSON schema per field)."""
    out: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        schema: dict[str, Any] = {"type": [f.kind, "null"]}
        if f.default is not None:
            schema["default"] = f.default
        if f.minimum is not None:
            schema["minimum"] = f.minimum
        if f.above is not None:
            schema["exclusiveMinimum"] = f.above
        out[f.name] = {"label": f.label, "schema": schema, "description": f.description}
    return out


def connection_form_widgets() -> dict[str, Any]:
    """The extras as wtforms fields (Airflow 2.11, 3.0 and 3.1 read these from the hook)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional, Regexp

    widgets: dict[str, Any] = {}
    for f in EXTRA_FIELDS:
        label = lazy_gettext(f.label)
        if f.kind == "integer":
            checks = [Optional(), NumberRange(min=f.minimum)]
            widgets[f.name] = IntegerField(label, widget=BS3TextFieldWidget(), validators=checks, default=f.default)
        elif f.kind == "number":
            checks = [Optional(), Regexp(NUMBER_PATTERN, message=f"{f.label}: a number such as 0.5 or 10")]
            default = None if f.default is None else f"{f.default:g}"
            widgets[f.name] = StringField(label, widget=BS3TextFieldWidget(), validators=checks, default=default)
        else:
            widgets[f.name] = StringField(label, widget=BS3TextFieldWidget(), default=f.default)
    return widgets
