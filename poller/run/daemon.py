"""`poller run`: who polls. With `workers` > 1 the worker processes poll
(poller.run.workers.supervisor); with 1, this process polls its shard itself (poller.run.local).
Either way the same lifecycle (poller.run.lifecycle) runs around them."""

from __future__ import annotations

import sys

from poller.config.model import Config
from poller.config.shard import CommandLine, owned
from poller.output.recorder import Recorder
from poller.run.history_sink import check_librrd
from poller.run.lifecycle import Lifecycle, run_loop
from poller.run.local import LocalPolling
from poller.run.state_keeper import keeper_settings
from poller.run.systemd import Notifier
from poller.run.workers.supervisor import Supervisor


def run(config: Config, *, once: bool = False, console: bool = False,
        command_line: CommandLine | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT (or one round with `once`). Returns the exit code.

    `command_line` (--shard, --workers) wins over the file, also after a reload."""
    command_line = command_line or CommandLine()
    config = command_line.apply(config)
    if config.history is not None:
        check_librrd()
    recorder = Recorder(config.output, console=sys.stderr if console else None)
    notifier = Notifier()
    try:
        life = Lifecycle(config, recorder, notifier, command_line)
        if once:
            return run_loop(_once(life, console))
        if config.daemon.workers > 1:
            return run_loop(life.serve(Supervisor(life, console)))
        return run_loop(life.serve(local_polling(life, console)))
    finally:
        notifier.close()
        recorder.close()


def local_polling(life: Lifecycle, console: bool) -> LocalPolling:
    """This process polls its shard: stats records written here, STATUS= after each."""
    config = life.config

    def on_stats(fields: dict[str, object]) -> None:
        life.recorder.event("stats", **fields)
        life.notifier.status(polling.status())

    polling = LocalPolling(
        owned(config.devices, life.shard), life.recorder, config.daemon.engine,
        max_in_flight=config.daemon.max_in_flight, console=console,
        # read at every record: a reload's new interval applies at the next one
        stats_interval_s=lambda: life.config.daemon.stats_interval_s, on_stats=on_stats,
        keeper=keeper_settings(config.daemon), history=config.history,
    )
    return polling


async def _once(life: Lifecycle, console: bool) -> int:
    """Every device polled once, now; no READY, no reload, no drain."""
    life.signals.install()
    polling = local_polling(life, console)
    await polling.open()
    try:
        life.record_started(polling, "once")
        await polling.run_once()
    finally:
        await polling.close()
    life.record_stopped(polling, cancelled=0)
    return 0
