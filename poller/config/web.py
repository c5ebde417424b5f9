"""`[web]` in the fleet file: where `poller web` listens, what it reads, who may look.

```toml
[web]
listen = "127.0.0.1:8080"                   # host:port, [v6]:port; default 127.0.0.1:8080
directory = "/var/lib/poller/history"       # default: [history] directory, else its default
password_file = "/etc/poller/web-password"  # required off loopback (or the systemd credential)
user = "poller"                             # the basic-auth user name
rrdcached = "unix:/run/rrdcached.sock"      # default: [history] rrdcached when a unix socket
```

The pages read through rrdcached's unix socket, so what it holds of a file is written first:
never through TCP, where rrdcached takes only names relative to its base directory (`-b`) and
the pages read absolute ones.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from poller.config.history import is_remote, rrdcached_address
from poller.config.model import WebSettings
from poller.config.reader import Reader, show

__all__ = ["KEYS", "WebSettings", "default_web", "parse_listen", "read_web"]

KEYS = ("listen", "directory", "password_file", "user", "rrdcached")
DEFAULT_LISTEN = "127.0.0.1:8080"
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


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


def listen_address(text: str, where: str, reader: Reader | None = None) -> tuple[str, int]:
    """parse_listen, or the one-line error naming `where` (a key, or `--listen`)."""
    address = parse_listen(text)
    if address is None:
        problem = (f"{show(text)} is not host:port (e.g. 127.0.0.1:8080, [::1]:8080, "
                   "0.0.0.0:8080)")
        if reader is None:
            raise ValueError(f"{where}: {problem}")
        raise reader.fail(where, problem)
    return address


def default_web(directory: Path, history_rrdcached: str | None = None) -> WebSettings:
    """What no `[web]` means: the pages over `directory`, through [history]'s rrdcached when
    that is a unix socket."""
    return _through(WebSettings(directory=directory), None, history_rrdcached)


def _through(settings: WebSettings, own: str | None, history: str | None) -> WebSettings:
    """`settings` with the rrdcached the pages read through (theirs, else history's unix
    socket), and history's TCP one when they have none (so they can say values may be late)."""
    if own is None and history is not None and not is_remote(history):
        own = history
    return replace(settings, rrdcached=own, history_rrdcached=history if own is None else None)


def read_web(reader: Reader, raw: Any, directory: Path, history_rrdcached: str | None = None
             ) -> WebSettings:
    """The `[web]` table (`raw`), checked; `directory`: the history directory, its default;
    `history_rrdcached`: [history] rrdcached, the default of `rrdcached` when a unix socket."""
    raw = reader.table(raw, "web", KEYS)
    host, port = listen_address(reader.string(raw.get("listen", DEFAULT_LISTEN), "web.listen"),
                                "web.listen", reader)
    if "directory" in raw:
        directory = _absolute(reader.pathname(raw["directory"], "web.directory"))
    password_file = None
    if "password_file" in raw:
        password_file = _absolute(reader.pathname(raw["password_file"], "web.password_file"))
    own = _rrdcached(reader, raw["rrdcached"]) if "rrdcached" in raw else None
    settings = WebSettings(host=host, port=port, directory=directory,
                           password_file=password_file,
                           user=reader.name(raw.get("user", "poller"), "web.user"))
    return _through(settings, own, history_rrdcached)


def _rrdcached(reader: Reader, raw: Any) -> str:
    text = reader.string(raw, "web.rrdcached")
    address = rrdcached_address(text)
    if address is None:
        raise reader.fail("web.rrdcached", f"{show(text)} is not a unix socket "
                          '("unix:/run/rrdcached.sock" or "/run/rrdcached.sock")')
    if is_remote(address):
        raise reader.fail("web.rrdcached", f"{show(text)} is on TCP, where rrdcached takes only "
                          "names relative to its base directory (-b) and the pages read "
                          "absolute ones: give its unix socket (rrdcached -l unix:/PATH)")
    return address


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else Path.cwd() / path
