"""The history database file: one SQLite connection (sqlite-utils, WAL), opened, migrated and
recovered here, and the transaction every write goes through.

Durability rules (see ARCHITECTURE.md): the user's message is written before generation starts;
an answer row is created as ``streaming`` when generation starts and updated as it grows, so a
crash of the app leaves a row that the next start marks ``interrupted`` instead of losing it.
WAL mode keeps each write cheap and the file consistent if the process dies mid-write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from desktop.core.errors import NewerSchemaError, StoreError
from desktop.core.messages import MessageStatus
from desktop.storage import migrations


def _import_sqlite_utils() -> ModuleType:
    """sqlite_utils, without its optional numpy support.

    sqlite-utils imports numpy when it is installed (llama-cpp-python installs it) only to store
    numpy values, which we never pass, and that import is a large share of the window's start.
    Where numpy is not loaded yet, sqlite_utils is imported as if it were absent; numpy stays
    importable for everyone else.
    """
    if "numpy" in sys.modules or "sqlite_utils" in sys.modules:
        import sqlite_utils as module

        return module
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` fail
    try:
        import sqlite_utils as module

        return module
    finally:
        del sys.modules["numpy"]


if TYPE_CHECKING:
    import sqlite_utils
else:
    sqlite_utils = _import_sqlite_utils()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc)
    return "file is not a database" in text or "malformed" in text


def _set_aside(path: Path) -> Path:
    """Move a corrupt database (and its WAL files) to ``<name>.corrupt-<time>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(target.with_name(target.name + suffix))
    return target


def _read_only_folder(folder: Path) -> bool:
    """A read-only mount, or a folder this user may not write (root may write anywhere, but not
    to a read-only file system)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # no statvfs on Windows
        pass
    return not os.access(folder, os.W_OK)


class Database:
    """The connection to the history file: opening it (set aside when corrupt, refused when
    newer), its migrations and backups, one-transaction writes whose errors are sentences,
    and marking answers left streaming by a run that died. Every aggregate shares it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Where an unreadable (corrupt) database was moved before a new one was started.
        self.corrupt_copy: Path | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open()
        except StoreError as exc:
            if not isinstance(exc.__cause__, sqlite3.DatabaseError) or not _is_corrupt(
                exc.__cause__
            ):
                raise
            # Keep the damaged file, untouched, for recovery tools; start a new history so
            # the app opens. A newer schema, a locked or read-only file never come here.
            self.corrupt_copy = _set_aside(path)
            self._open()
        self.recover_interrupted()

    def _open(self) -> None:
        path = self.path
        self.db = sqlite_utils.Database(path)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against an application crash in WAL mode, and much faster than
            # FULL; only a power cut can lose the last transaction.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if _read_only_folder(path.parent):
                raise StoreError(
                    f"Cannot open the history database {path}: its folder is read-only and "
                    f"Llamaside needs to write there. Nothing was changed."
                ) from exc
            raise StoreError(f"Cannot open the history database {path}: {exc}") from exc

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction; SQLite's errors become sentences (a full disk is the usual one)."""
        try:
            with self.db.conn:
                yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "full" in text:
                raise StoreError(
                    f"The disk is full: Llamaside could not save to {self.path}. Free some "
                    f"space; what was saved before is intact."
                ) from exc
            if "readonly" in text or "read-only" in text:
                raise StoreError(f"The history database {self.path} is read-only.") from exc
            raise StoreError(f"Could not save to the history database {self.path}: {exc}") from exc

    # -- schema -------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        if "_migrations" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT MAX(id) FROM _migrations").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        if "_migrations" not in self.db.table_names():
            self.db.execute(
                "CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                "applied TEXT NOT NULL)"
            )
        current = self.schema_version
        if current > len(migrations.MIGRATIONS):
            raise NewerSchemaError(
                f"The history database {self.path} was written by a newer version of Llamaside "
                f"(schema {current}; this version knows up to {len(migrations.MIGRATIONS)}). "
                f"Update Llamaside to open it. The file was not changed."
            )
        if current == len(migrations.MIGRATIONS):
            return
        if current > 0:
            self._backup(f"before-v{len(migrations.MIGRATIONS)}")
        for number, (name, migration) in enumerate(migrations.MIGRATIONS, start=1):
            if number <= current:
                continue
            script = migrations.Script()
            migration(script)
            record = (
                f"INSERT INTO _migrations (id, name, applied) "
                f"VALUES ({number}, '{name}', '{now_iso()}');"
            )
            try:
                # executescript commits anything pending first, then runs this as one
                # transaction of its own.
                self.db.conn.executescript(
                    "BEGIN;\n" + "\n".join(script.parts) + "\n" + record + "\nCOMMIT;"
                )
            except sqlite3.Error:
                if self.db.conn.in_transaction:
                    self.db.conn.execute("ROLLBACK")
                raise

    def _backup(self, label: str) -> Path:
        target = self.path.with_name(f"{self.path.name}.{label}.bak")
        dest = sqlite3.connect(target)
        try:
            self.db.conn.backup(dest)
        finally:
            dest.close()
        return target

    def recover_interrupted(self) -> int:
        """Answers still ``streaming`` belong to a run that died: mark them interrupted."""
        with self._writing():
            cursor = self.db.execute(
                "UPDATE messages SET status = ? WHERE status = ?",
                [MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value],
            )
            if "comparison_answers" in self.db.table_names():
                self.db.execute(
                    "UPDATE comparison_answers SET status = ? WHERE status = ?",
                    [MessageStatus.INTERRUPTED.value, MessageStatus.STREAMING.value],
                )
        return int(cursor.rowcount)
