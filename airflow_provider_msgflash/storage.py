"""Where numbers come from and where results go: plain local paths, or any URL Airflow's
``ObjectStoragePath`` understands (``s3://``, ``gs://``, ``file://``, ...) with an Airflow connection.

- A plain path (``/data/leads.csv``) is read and written with the standard library.
- A URL goes through ``ObjectStoragePath``. Name the connection with ``conn_id`` or inside the URL
  (``s3://aws_leads@bucket/leads.csv``); with neither, the filesystem's own default credentials apply.
- Numbers stream: ``.txt`` and ``.csv`` are read line by line through a bounded buffer; a ``.json`` list is
  parsed whole (JSON has no streaming reader in the standard library).
- Results are written atomically: a local file (plain path or ``file://``) goes to ``<path>.part`` and is
  renamed on close; S3 and GCS objects are write-once (an upload only becomes an object when it is
  committed on close; abort cancels it); other stores get a ``<name>.part`` object renamed on close.
- Every failure names the URL and the fix: missing object, refused credential, unknown scheme or missing
  filesystem package, unknown connection.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

from airflow_provider_msgflash.exceptions import MsgFlashConfigError, MsgFlashError

NUMBER_COLUMNS = ("phone", "number", "phone_number", "msisdn", "wa_number", "waNumber")

#: The pip package that gives Airflow a filesystem for a scheme (for the "not installed" error).
FILESYSTEM_PACKAGES = {
    **dict.fromkeys(("s3", "s3a", "s3n"), "apache-airflow-providers-amazon[s3fs]"),
    **dict.fromkeys(("gs", "gcs"), "apache-airflow-providers-google"),
    **dict.fromkeys(("abfs", "abfss", "adl"), "apache-airflow-providers-microsoft-azure"),
}
#: Connection types the filesystem of a scheme reads its credentials from (checked before any access).
CONN_TYPES = {
    **dict.fromkeys(("s3", "s3a", "s3n"), ("aws",)),
    **dict.fromkeys(("gs", "gcs"), ("google_cloud_platform",)),
}
#: Stores whose uploads are invisible until committed (fsspec ``autocommit=False``: commit or discard).
WRITE_ONCE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "gcs"})
LOCAL_SCHEMES = frozenset({"file", "local"})
#: Read buffer of a remote numbers file, and the upload part size (S3's smallest multipart part).
READ_BLOCK_SIZE = 1 << 20
WRITE_BLOCK_SIZE = 5 << 20

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class Location:
    """A parsed ``numbers_file`` / ``result_path``: a plain path (``scheme`` None) or a URL."""

    raw: str
    scheme: str | None
    conn_id: str | None
    field: str

    @property
    def display(self) -> str:
        """The location as shown in messages (a password-like part of the URL's user info is hidden)."""
        if self.scheme is None:
            return self.raw
        parts = urlsplit(self.raw)
        user, at, host = parts.netloc.rpartition("@")
        if at and ":" in user:
            return parts._replace(netloc=f"***@{host}").geturl()
        return self.raw

    @property
    def suffix(self) -> str:
        path = urlsplit(self.raw).path if self.scheme else self.raw
        return os.path.splitext(path)[1].lower()

    def fail(self, problem: str, fix: str, code: str) -> MsgFlashConfigError:
        via = f" (connection {self.conn_id!r})" if self.conn_id else ""
        return MsgFlashConfigError(f"`{self.field}` {self.display}{via}: {problem}. {fix}".rstrip(), code=code)


def parse_location(location: Any, conn_id: str | None = None, *, field: str = "numbers_file") -> Location:
    """Check and parse a location; the connection given in the URL (``s3://conn@bucket/...``) wins."""
    if not isinstance(location, str) or not location.strip():
        raise MsgFlashConfigError(
            f"`{field}` must be a local path or a URL such as 's3://bucket/key.csv', got {location!r}.",
            code="BAD_ARGUMENT",
        )
    if conn_id is not None and (not isinstance(conn_id, str) or not conn_id.strip()):
        raise MsgFlashConfigError(f"The connection id for `{field}` must be a non-empty string, got {conn_id!r}.")
    location = location.strip()
    match = _URL.match(location)
    if not match:
        return Location(location, None, None, field)
    user, at, _ = urlsplit(location).netloc.rpartition("@")
    in_url = user if at and user and ":" not in user else None
    return Location(location, match.group(1).lower(), in_url or conn_id, field)


def _check_connection(loc: Location) -> None:
    """Fail early and clearly when the named connection is unknown or of the wrong type."""
    if not loc.conn_id or loc.scheme in LOCAL_SCHEMES:
        return
    from airflow_provider_msgflash.version_compat import BaseHook

    try:
        conn = BaseHook.get_connection(loc.conn_id)
    except Exception as e:
        raise loc.fail(
            f"the connection could not be read ({type(e).__name__}: {e})",
            f"Define connection {loc.conn_id!r} (Admin -> Connections, or AIRFLOW_CONN_{loc.conn_id.upper()}) "
            "or give the right connection id.",
            "STORAGE_BAD_CONN_ID",
        ) from None
    expected = CONN_TYPES.get(loc.scheme or "")
    if expected and conn.conn_type not in expected:
        raise loc.fail(
            f"the connection is of type {conn.conn_type!r}, not {' or '.join(map(repr, expected))}",
            f"{loc.scheme}:// reads its credentials from a {expected[0]!r} connection.",
            "STORAGE_BAD_CONN_ID",
        )


def _missing_filesystem(loc: Location, detail: str) -> MsgFlashConfigError:
    package = FILESYSTEM_PACKAGES.get(loc.scheme or "")
    fix = (
        f"Install it: pip install '{package}'."
        if package
        else "Install the Airflow provider that registers a filesystem for this scheme, or use a local path."
    )
    return loc.fail(f"no filesystem for {loc.scheme}:// is available ({detail})", fix, "STORAGE_UNSUPPORTED")


@contextmanager
def storage_errors(loc: Location, action: str) -> Iterator[None]:
    """Turn what a filesystem raises while ``action`` (reading/writing) into a MsgFlashConfigError naming the URL."""
    try:
        yield
    except MsgFlashError:
        raise
    except FileNotFoundError:
        raise loc.fail(
            "does not exist (no such file, object or bucket)",
            "Check the path or URL, and that the file was written before this task ran.",
            "STORAGE_NOT_FOUND",
        ) from None
    except PermissionError as e:
        raise loc.fail(
            f"access refused while {action} ({e})",
            "Check the credentials of the connection (access key and secret, or role) and their permissions "
            "on this bucket or folder.",
            "STORAGE_ACCESS_DENIED",
        ) from None
    except ImportError as e:
        raise _missing_filesystem(loc, str(e)) from None
    except ValueError as e:
        if "filesystem" in str(e).lower():  # "No filesystem registered for scheme", "Unsupported filesystem"
            raise _missing_filesystem(loc, str(e)) from None
        raise loc.fail(f"failed while {action} ({e})", "", "STORAGE_ERROR") from None
    except Exception as e:
        raise loc.fail(f"failed while {action} ({type(e).__name__}: {e})", "", "STORAGE_ERROR") from None


def _remote(loc: Location) -> Any:
    """The ``ObjectStoragePath`` of a URL, its connection checked first."""
    from airflow_provider_msgflash.version_compat import object_storage_path_class

    _check_connection(loc)
    return object_storage_path_class()(loc.raw, conn_id=loc.conn_id)


def _local_path(loc: Location) -> str | None:
    """The file-system path of a plain path or a ``file://`` / ``local://`` URL; None for other URLs."""
    if loc.scheme is None:
        return loc.raw
    if loc.scheme in LOCAL_SCHEMES:
        parts = urlsplit(loc.raw)
        if parts.netloc.rpartition("@")[2] not in ("", "localhost"):
            raise loc.fail("names another host", "Use file:///absolute/path (no host).", "BAD_ARGUMENT")
        return parts.path
    return None


@contextmanager
def _open_text(loc: Location) -> Iterator[IO[str]]:
    local = _local_path(loc)
    if local is not None:
        if not os.path.isfile(local):
            raise loc.fail("does not exist or is not a file", "Check the path.", "STORAGE_NOT_FOUND")
        with open(local, encoding="utf-8-sig", newline="") as f:
            yield f
        return
    path = _remote(loc)
    with path.fs.open(path.path, "rb", block_size=READ_BLOCK_SIZE) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def iter_numbers(location: str, conn_id: str | None = None, *, field: str = "numbers_file") -> Iterator[Any]:
    """Numbers from a file, streamed: ``.json`` (a list, items as given), ``.csv`` (a ``phone``/``number``/...
    column, else the first column) or anything else as text (one number per line; blank lines and ``#``
    comments skipped). Raises :class:`MsgFlashConfigError` naming the location on any failure."""
    loc = parse_location(location, conn_id, field=field)
    with storage_errors(loc, "reading"), _open_text(loc) as f:
        if loc.suffix == ".json":
            yield from _json_numbers(loc, f)
        elif loc.suffix == ".csv":
            yield from _csv_numbers(f)
        else:
            for line in f:
                text = line.strip()
                if text and not text.startswith("#"):
                    yield text


def read_numbers(location: str, conn_id: str | None = None, *, field: str = "numbers_file") -> list[Any]:
    """:func:`iter_numbers` as a list (what :func:`~airflow_provider_msgflash.phone_numbers.load_numbers` adds to
    ``numbers``)."""
    return list(iter_numbers(location, conn_id, field=field))


def _json_numbers(loc: Location, f: IO[str]) -> list[Any]:
    try:
        data = json.load(f)
    except ValueError as e:
        raise loc.fail(f"is not valid JSON ({e})", "Give a JSON list of numbers.", "BAD_ARGUMENT") from None
    if not isinstance(data, list):
        raise loc.fail(f"holds a JSON {type(data).__name__}", "It must hold a JSON list of numbers.", "BAD_ARGUMENT")
    return data


def _csv_numbers(f: IO[str]) -> Iterator[str]:
    rows = csv.reader(f)
    first = next(rows, None)
    if first is None:
        return
    header = [h.strip() for h in first]
    col = next((header.index(c) for c in NUMBER_COLUMNS if c in header), None)
    idx = col if col is not None else 0
    if col is None and len(first) > idx and first[idx].strip():
        yield first[idx].strip()
    for row in rows:
        if len(row) > idx and row[idx].strip():
            yield row[idx].strip()


def check_location(
    location: str, conn_id: str | None = None, *, field: str = "numbers_file", write: bool = False
) -> None:
    """Fail fast, before anything is sent to MsgFlash: the connection exists, the scheme has a filesystem,
    and the store answers with this credential (reading: the object exists; writing: its bucket or folder
    exists). Costs one request to the store."""
    loc = parse_location(location, conn_id, field=field)
    local = _local_path(loc)
    if local is not None:
        if not write and not os.path.isfile(local):
            raise loc.fail("does not exist or is not a file", "Check the path.", "STORAGE_NOT_FOUND")
        return  # a local result's folder is created when writing
    with storage_errors(loc, "writing" if write else "reading"):
        path = _remote(loc)
        if not write:
            path.fs.info(path.path)
        elif path.protocol in WRITE_ONCE_SCHEMES:
            path.fs.info(path.bucket)
        else:
            path.fs.info(path.parent.path)


class _LocalSink:
    """``<path>.part`` in the target's folder, renamed over the target on commit (atomic on one filesystem)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.tmp = path, path + ".part"
        self.f: IO[bytes] = open(self.tmp, "wb")  # noqa: SIM115

    def commit(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.f.close()
        try:
            os.remove(self.tmp)
        except OSError:
            pass


class _WriteOnceSink:
    """An upload that becomes an object only on commit (S3 multipart upload, GCS resumable upload)."""

    def __init__(self, path: Any) -> None:
        self.f = path.fs.open(path.path, "wb", autocommit=False, block_size=WRITE_BLOCK_SIZE)

    def commit(self) -> None:
        self.f.close()
        self.f.commit()

    def discard(self) -> None:
        try:
            self.f.discard()
        finally:
            self.f.closed = True  # the buffer is gone: no flush on close or garbage collection


class _RenameSink:
    """A ``<name>.part`` object next to the target, moved over it on commit (stores with a rename)."""

    def __init__(self, path: Any) -> None:
        self.path, self.tmp = path, path.parent / (path.name + ".part")
        self.f = self.tmp.fs.open(self.tmp.path, "wb")

    def commit(self) -> None:
        self.f.close()
        self.tmp.fs.mv(self.tmp.path, self.path.path)

    def discard(self) -> None:
        try:
            self.f.close()
        finally:
            if self.tmp.fs.exists(self.tmp.path):
                self.tmp.fs.rm(self.tmp.path)


class JsonLinesWriter:
    """Streams lookup results as JSON Lines to a local path or an object storage URL, atomically.

    Same interface as ``results.ResultWriter``: :meth:`write`, :meth:`close` (publish),
    :meth:`abort` (publish nothing, remove the temporary file or cancel the upload) and ``lines``. Lines:
    ``{"number", "status", "lookup_id", "reason"?}``. Memory stays bounded: one upload part at most.

    :param path: a local path or a URL (``s3://bucket/results.jsonl``, ``file:///data/results.jsonl``).
    :param conn_id: the Airflow connection for the URL (or name it in the URL: ``s3://conn@bucket/...``).
    """

    def __init__(self, path: str, conn_id: str | None = None, *, field: str = "result_path") -> None:
        self.path = path
        self.lines = 0
        self._loc = parse_location(path, conn_id, field=field)
        local = _local_path(self._loc)
        with storage_errors(self._loc, "opening for writing"):
            if local is not None:
                self._sink: Any = _LocalSink(local)
            else:
                target = _remote(self._loc)
                sink = _WriteOnceSink if target.protocol in WRITE_ONCE_SCHEMES else _RenameSink
                self._sink = sink(target)
        self._open = True

    def write(self, numbers: Iterable[str], status: str, lookup_id: str | None, reason: str | None = None) -> None:
        if not self._open:
            raise MsgFlashConfigError(f"The result writer of {self._loc.display} is already closed.")
        tail = {"reason": reason} if reason else {}
        chunk: list[bytes] = []
        with storage_errors(self._loc, "writing"):
            for n in numbers:
                rec = {"number": n, "status": status, "lookup_id": lookup_id, **tail}
                chunk.append(json.dumps(rec, separators=(",", ":")).encode() + b"\n")
                if len(chunk) >= 1000:
                    self._flush(chunk)
            self._flush(chunk)

    def _flush(self, chunk: list[bytes]) -> None:
        if chunk:
            self._sink.f.write(b"".join(chunk))
            self.lines += len(chunk)
            chunk.clear()

    def close(self) -> None:
        """Publish the result: rename the temporary file, or commit the upload."""
        if self._open:
            self._open = False
            try:
                with storage_errors(self._loc, "publishing the result"):
                    self._sink.commit()
            except BaseException:
                self._discard()
                raise

    def abort(self) -> None:
        """Publish nothing: remove the temporary file or cancel the upload (best effort, never raises)."""
        if self._open:
            self._open = False
            self._discard()

    def _discard(self) -> None:
        try:
            self._sink.discard()
        except Exception:  # best effort: the original failure matters more
            pass
