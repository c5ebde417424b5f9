"""`[web]` in the fleet file, read on its own: the web process needs the listen address, the
password file and the history directory, never the devices or their credentials.

```toml
[web]
listen = "127.0.0.1:8080"                   # host:port, [v6]:port; default 127.0.0.1:8080
directory = "/var/lib/poller/history"       # default: [history] directory, else its default
password_file = "/etc/poller/web-password"  # required off loopback (or the systemd credential)
user = "poller"                             # the basic-auth user name
```

The fleet file's other tables are not checked here: `poller check` does that. Until the config
loader reads `[web]` itself, this module parses the file with the standard library's tomllib
(the same parser as the loader's tomli) and takes only these two tables from it.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poller.config.history import DEFAULT_DIRECTORY
from poller.config.reader import Reader, show
from poller.errors import ConfigError

KEYS = ("listen", "directory", "password_file", "user")
DEFAULT_LISTEN = "127.0.0.1:8080"
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    directory: Path = DEFAULT_DIRECTORY
    password_file: Path | None = None
    user: str = "poller"

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> tuple[str, int] | None:
    """(host, port) of `host:port` or `[v6]:port`, or None when it is not one."""
    match = _LISTEN.match(text.strip())
    if not match or not 1 <= int(match[2]) <= 65535:
        return None
    host = match[1].strip("[]")
    if match[1].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return host, int(match[2])


def read_settings(path: Path, listen: str | None = None) -> WebSettings:
    """The `[web]` (and `[history] directory`) of the fleet file at `path`; `listen` (the
    command line's) wins over the file's. Raises ConfigError, one line, on any problem."""
    reader = Reader(path)
    doc = _document(path)
    raw = reader.table(doc.get("web", {}), "web", KEYS)
    where = "--listen" if listen is not None else "web.listen"
    text = listen if listen is not None else reader.string(raw.get("listen", DEFAULT_LISTEN),
                                                           "web.listen")
    address = parse_listen(text)
    if address is None:
        raise reader.fail(where, f"{show(text)} is not host:port (e.g. 127.0.0.1:8080, "
                                 "[::1]:8080, 0.0.0.0:8080)")
    return WebSettings(host=address[0], port=address[1], directory=_directory(reader, doc, raw),
                       password_file=_optional_path(reader, raw, "password_file"),
                       user=reader.name(raw.get("user", "poller"), "web.user"))


def _document(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None


def _directory(reader: Reader, doc: dict[str, Any], raw: dict[str, Any]) -> Path:
    if "directory" in raw:
        return _absolute(Path(reader.string(raw["directory"], "web.directory")))
    history = doc.get("history", {})
    if isinstance(history, dict) and "directory" in history:
        return _absolute(Path(reader.string(history["directory"], "history.directory")))
    return DEFAULT_DIRECTORY


def _optional_path(reader: Reader, raw: dict[str, Any], key: str) -> Path | None:
    if key not in raw:
        return None
    return _absolute(Path(reader.string(raw[key], f"web.{key}")))


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else Path.cwd() / path
