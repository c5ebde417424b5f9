"""Who may read the pages: anyone on a loopback address; off loopback, whoever gives the
password by HTTP basic auth. The password comes from `[web] password_file` or the systemd
credential `web-password` ($CREDENTIALS_DIRECTORY); without one the server does not start."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from poller.config.model import WebSettings
from poller.errors import ConfigError

CREDENTIAL = "web-password"
REALM = "poller"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name could resolve anywhere


def password_for(settings: WebSettings, environ: Mapping[str, str] | None = None
                 ) -> str | None:
    """The password the server asks for, or None when it needs none (a loopback address).
    Raises ConfigError (one line) when it needs one and there is none or it cannot be read."""
    environ = os.environ if environ is None else environ
    source = settings.password_file
    if source is None and environ.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL
        source = candidate if candidate.exists() else None
    if source is None:
        if is_loopback(settings.host):
            return None
        raise ConfigError(f"poller web: listening on {settings.listen} (not loopback) needs a "
                          f"password: set [web] password_file, or the systemd credential "
                          f"{CREDENTIAL}")
    return _read_password(source)


def _read_password(path: Path) -> str:
    try:
        password = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"poller web: password file {path}: cannot read: {reason}") from None
    if not password:
        raise ConfigError(f"poller web: password file {path} is empty")
    return password


def authorized(header: str | None, user: str, password: str) -> bool:
    """Whether an Authorization header carries `user` and `password` (compared in constant
    time, so the answer's timing tells nothing about how much of a guess was right)."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        given = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    given_user, sep, given_password = given.partition(":")
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return bool(sep) and user_ok and password_ok
