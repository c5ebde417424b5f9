"""The one module that calls librrd (PyPI `rrdtool`, imported on first use: the daemon loads it
only when `[history]` is configured). With an rrdcached address every call goes through the
cache daemon (`--daemon`), which batches the disk writes and serves files of other hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from poller.config.history import is_remote
from poller.errors import PollerError


class RrdError(PollerError):
    """librrd refused a call; the message is librrd's, prefixed with the file."""


class RrdFiles:
    def __init__(self, rrdcached: str | None = None) -> None:
        try:
            import rrdtool
        except ImportError:
            raise RrdError("history needs librrd's Python binding: pip install 'poller[history]' "
                           "(build needs librrd-dev and pkg-config; `make history-deps`)") from None
        self._rrdtool: Any = rrdtool
        self._daemon = ("--daemon", rrdcached) if rrdcached else ()
        self.rrdcached = rrdcached
        #: an rrdcached on TCP: paths are relative to its base directory, on its host
        self.remote = rrdcached is not None and is_remote(rrdcached)

    def _call(self, name: str, path: Path, *args: str) -> Any:
        try:
            return getattr(self._rrdtool, name)(str(path), *self._daemon, *args)
        except self._rrdtool.OperationalError as exc:
            raise RrdError(f"{path}: {exc}") from None

    def state(self, path: Path) -> tuple[int, tuple[str, ...]] | None:
        """(last update time, data-source names in file order), or None when there is no file.
        Through rrdcached the daemon answers, so a file on its host counts too."""
        if not self.rrdcached and not path.exists():
            return None
        try:
            info = self._call("info", path)
        except RrdError as exc:
            if "No such file" in str(exc):
                return None
            raise
        names = sorted((value, key[3:-7]) for key, value in info.items()
                       if key.startswith("ds[") and key.endswith("].index"))
        return int(info["last_update"]), tuple(name for _, name in names)

    def create(self, path: Path, args: list[str]) -> bool:
        """Create `path`; False when it exists already (another writer, or a remote store)."""
        # the files of an rrdcached on TCP are on its host: its -R makes the directories there
        try:
            if not self.remote:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self.rrdcached:
                raise RrdError(f"{path}: cannot make its directory: {exc.strerror or exc}"
                               ) from None
        try:
            self._call("create", path, *args)
        except RrdError as exc:
            if "File exists" in str(exc):
                return False
            raise
        return True

    def update(self, path: Path, lines: list[str]) -> None:
        """`timestamp:value:value...` lines, oldest first, as one update of `path`."""
        self._call("update", path, *lines)

    def flush(self, path: Path) -> None:
        """Make rrdcached write what it holds of `path` (a no-op without it)."""
        if self.rrdcached:
            self._call("flushcached", path)

