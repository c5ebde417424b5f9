"""What `poller web` serves, from the fleet file read by the loader (load_config): its `[web]`,
else the defaults over the history directory. The web process never polls, so secrets kept
outside the file are not read (load_config's read_secrets=False), and none reach a page."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from poller.config.load import load_config
from poller.config.model import Config, WebSettings
from poller.config.web import default_web, listen_address
from poller.errors import ConfigError

__all__ = ["WebSettings", "read_settings", "settings_of"]


def settings_of(config: Config, listen: str | None = None) -> WebSettings:
    """`config`'s [web] (or the defaults over its history directory); `listen` (the command
    line's) wins over the file's."""
    settings = config.web
    if settings is None:
        state = config.daemon.state_directory or config.output.directory / "state"
        directory = config.history.index_directory if config.history else state / "history"
        settings = default_web(directory, config.history.rrdcached if config.history else None)
    if listen is not None:
        try:
            host, port = listen_address(listen, "--listen")
        except ValueError as exc:
            raise ConfigError(f"{config.path}: {exc}") from None
        settings = replace(settings, host=host, port=port)
    return settings


def read_settings(path: Path, listen: str | None = None) -> WebSettings:
    """The web settings of the fleet file at `path`; ConfigError, one line, on any problem."""
    return settings_of(load_config(path, read_secrets=False), listen)
