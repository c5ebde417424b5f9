"""Where a secret comes from: inline in the fleet file, an environment variable, a file, or a
systemd credential (`LoadCredential=` -> $CREDENTIALS_DIRECTORY). Messages name the source,
never the value."""

from __future__ import annotations

import os
from pathlib import Path

from poller.config.files import MAX_SECRET_BYTES, MAX_SECRET_TEXT, read_regular

#: key suffix -> what it names; `community` alone is the inline value
SOURCES = ("", "_env", "_file", "_credential")


def source_keys(name: str) -> tuple[str, ...]:
    return tuple(name + suffix for suffix in SOURCES)


def read(key: str, value: str) -> str:
    """The secret named by `key` (e.g. `community_env`) = `value`; ValueError when unavailable."""
    if key.endswith("_env"):
        found = os.environ.get(value)
        if not found:
            raise ValueError(f"environment variable {value!r} is not set or empty")
        return found
    if key.endswith("_file"):
        return _read_file(Path(value))
    if key.endswith("_credential"):
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ValueError(f"systemd credential {value!r}: $CREDENTIALS_DIRECTORY is not set "
                             "(LoadCredential= in the unit)")
        if "/" in value:
            raise ValueError(f"systemd credential {value!r}: a credential name has no '/'")
        return _read_file(Path(directory) / value)
    return value


def _read_file(path: Path) -> str:
    try:
        text = read_regular(path, MAX_SECRET_BYTES, MAX_SECRET_TEXT).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"cannot read {path}: not UTF-8 text") from None
    except ValueError as exc:  # not a regular file, too large, unreadable
        raise ValueError(f"cannot read {path}: {exc}") from None
    secret = text.rstrip("\r\n")  # the trailing newline editors add is not part of it
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o004)
    except OSError:
        return False
