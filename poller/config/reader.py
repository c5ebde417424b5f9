"""Typed reading of fleet-file values, shared by every part of the loader. Each problem becomes
one ConfigError line that names the file, the key and (never for a secret) the value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from poller.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def show(value: Any) -> str:
    """A TOML value as it reads in a message."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)



class Reader:
    """The typed getters every section's parser is handed: each checks one value and raises
    the one-line ConfigError naming this file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> ConfigError:
        line = f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        # keys and names from the file may hold newlines; the message stays one line
        return ConfigError(_CONTROL.sub(lambda m: repr(m[0])[1:-1], line))

    # -- typed getters ---------------------------------------------------------------------------

    def table(self, value: Any, where: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {show(value)}")
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                raise self.fail(where, f"unknown key {key!r} (allowed: {', '.join(allowed)})")
        return value

    def string(self, value: Any, where: str, *, secret: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            shown = "" if secret else f", got {show(value)}"
            raise self.fail(where, f"expected a non-empty string{shown}")
        return value

    def name(self, value: Any, where: str) -> str:
        """A name records or messages carry (device, table, column): printable, one line."""
        name = self.string(value, where)
        if _CONTROL.search(name) or name != name.strip():
            raise self.fail(where, f"{show(name)} has spaces around it or control characters")
        return name

    def pathname(self, value: Any, where: str) -> Path:
        """A file or directory name as written (relative ones are the caller's to place)."""
        text = self.string(value, where)
        if "\0" in text:
            raise self.fail(where, f"{show(text)} holds a NUL character, which no path can")
        return Path(text)

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"{show(value)} is not an integer in {low}..{high}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"{show(value)} is not true or false")
        return value

    def duration(self, value: Any, where: str, low: float, high: float) -> float:
        seconds: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            seconds = float(match[1]) * _DURATION_UNITS[match[2]]
        if seconds is None:
            raise self.fail(where, f"{show(value)} is not a duration "
                                   '(a number of seconds or a string like "500ms", "30s", "5m")')
        if not low <= seconds <= high:
            raise self.fail(where, f"{show(value)} is outside {low:g} s..{high:g} s")
        return seconds

    def size(self, value: Any, where: str) -> int:
        size: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        elif isinstance(value, str) and (match := _SIZE.match(value)):
            size = int(match[1]) * _SIZE_UNITS[match[2]]
        if size is None or size < 1024:
            raise self.fail(where, f"{show(value)} is not a size of at least 1 KiB "
                                   '(bytes, or a string like "50MiB", "1GB")')
        return size

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected an array of strings, got {show(value)}")
        return [self.string(item, f"{where}[{i}]") for i, item in enumerate(value)]

    def unique(self, names: Iterable[str], where: str, what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(where, f"duplicate {what} {name!r}")
            seen.add(name)

    def reference(self, raw: Any, where: str, known: Mapping[str, Any], what: str) -> Any:
        name = self.string(raw, where)
        if name not in known:
            raise self.fail(where, f"unknown {what} {name!r} (known: {', '.join(sorted(known)) or 'none'})")
        return known[name]
