"""A reload (SIGHUP), the same with one process and with workers: the fleet file validated
again, the running fleet kept when it is bad, and a `reloaded` event that says what changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from poller.config.load import load_config
from poller.config.model import Config
from poller.config.shard import CommandLine
from poller.errors import ConfigError
from poller.output.recorder import Recorder
from poller.run.systemd import Notifier


def load_again(config: Config, command_line: CommandLine, recorder: Recorder,
               notifier: Notifier, polling: int) -> Config | None:
    """The fleet file read again, or None after a `reload_failed` event when it is bad."""
    notifier.reloading()
    try:
        return command_line.apply(load_config(config.path))
    except ConfigError as exc:
        recorder.event("reload_failed", config=str(config.path), error=str(exc))
        notifier.ready(f"reload failed, still polling {polling} devices")
        return None


def record_reloaded(recorder: Recorder, old: Config, new: Config, devices: int,
                    diff: Mapping[str, Sequence[str]]) -> None:
    """The `reloaded` event: the devices now polled here, the diff by name, and the sections
    whose changes wait for a restart."""
    restart = [name for name in ("daemon", "output", "history")
               if getattr(new, name) != getattr(old, name)]
    recorder.event(
        "reloaded", config=str(new.path), devices=devices,
        added=diff["added"], removed=diff["removed"], changed=diff["changed"],
        unchanged=len(diff["unchanged"]), needs_restart=restart,
    )
