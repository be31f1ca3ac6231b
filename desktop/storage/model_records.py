"""What the app remembers about model files: those the user added, why a file failed to load,
and the state of each downloaded file (so a download resumes after a restart)."""

from __future__ import annotations

from typing import Any

from desktop.core.download_records import DownloadRecord
from desktop.storage.database import Database, now_iso


class UserModels(list[str]):
    """The model files the user added, oldest first, carrying the projector chosen for each
    model file (``projectors``: model path -> mmproj path, "" for none), so that
    backends.local_models.available_models pairs them as the user chose."""

    def __init__(self, paths: list[str], projectors: dict[str, str]) -> None:
        super().__init__(paths)
        self.projectors = projectors


class ModelRecords(Database):
    """Owns the user_models, model_projectors, model_errors and downloads tables."""

    def add_user_model(self, path: str) -> None:
        with self._writing():
            self.db.execute(
                "INSERT OR IGNORE INTO user_models (path, added) VALUES (?, ?)", [path, now_iso()]
            )

    def user_models(self) -> UserModels:
        paths = [r["path"] for r in self.db.query("SELECT path FROM user_models ORDER BY added")]
        return UserModels(paths, self.model_projectors())

    def set_model_projector(self, path: str, mmproj: str | None) -> None:
        """The vision projector chosen for the model file at ``path``: a projector's path, ""
        for none (even with one beside it), or None to forget the choice (pair by folder)."""
        with self._writing():
            if mmproj is None:
                self.db.execute("DELETE FROM model_projectors WHERE path = ?", [path])
            else:
                self.db.execute(
                    "INSERT INTO model_projectors (path, mmproj, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET mmproj = excluded.mmproj, "
                    "updated = excluded.updated",
                    [path, mmproj, now_iso()],
                )

    def model_projectors(self) -> dict[str, str]:
        """The projector chosen for each model file, by the model's path ("" for none)."""
        rows = self.db.query("SELECT path, mmproj FROM model_projectors")
        return {str(r["path"]): str(r["mmproj"]) for r in rows}

    def set_model_error(self, path: str, error: str | None) -> None:
        """Remember why a model file failed to load or crashed the engine (None: it loaded
        fine). Any file: one the user added, or one in the models folder."""
        with self._writing():
            if error is None:
                self.db.execute("DELETE FROM model_errors WHERE path = ?", [path])
            else:
                self.db.execute(
                    "INSERT INTO model_errors (path, error, at) VALUES (?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET error = excluded.error, at = excluded.at",
                    [path, error, now_iso()],
                )

    def model_errors(self) -> dict[str, str]:
        """Why each model file that failed to load (or crashed the engine) failed, by path."""
        rows = self.db.query("SELECT path, error FROM model_errors")
        return {str(r["path"]): str(r["error"]) for r in rows}

    def forget_user_model(self, path: str) -> None:
        with self._writing():
            self.db.execute("DELETE FROM user_models WHERE path = ?", [path])
            self.db.execute("DELETE FROM model_projectors WHERE path = ?", [path])

    # -- downloads ----------------------------------------------------------------------------

    def record_download(
        self,
        local_path: str,
        *,
        repo: str,
        path: str,
        url: str,
        size: int,
        sha256: str | None,
        status: str,
        error: str | None = None,
    ) -> None:
        """One file of a download; status is queued / partial / verified / failed."""
        with self._writing():
            self.db.execute(
                "INSERT INTO downloads (local_path, repo, path, url, size, sha256, status, "
                "error, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(local_path) DO UPDATE SET url = excluded.url, "
                "size = excluded.size, sha256 = excluded.sha256, status = excluded.status, "
                "error = excluded.error, updated = excluded.updated",
                [local_path, repo, path, url, size, sha256, status, error, now_iso()],
            )

    def downloads(self) -> list[DownloadRecord]:
        """Every file of every download, the least recently changed first."""
        return [_download(r) for r in self.db.query("SELECT * FROM downloads ORDER BY updated")]

    def download(self, local_path: str) -> DownloadRecord | None:
        """The download of the file at this path, if it was downloaded (or is being)."""
        rows = list(self.db.query("SELECT * FROM downloads WHERE local_path = ?", [local_path]))
        return _download(rows[0]) if rows else None

    def forget_download(self, local_path: str) -> None:
        with self._writing():
            self.db.execute("DELETE FROM downloads WHERE local_path = ?", [local_path])


def _download(row: dict[str, Any]) -> DownloadRecord:
    return DownloadRecord(
        local_path=str(row["local_path"]),
        repo=str(row["repo"]),
        path=str(row["path"]),
        url=str(row["url"]),
        size=int(row["size"]),
        sha256=row["sha256"],
        status=str(row["status"]),
        error=row["error"],
        updated=str(row["updated"]),
    )
