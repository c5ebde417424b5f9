"""`poller web --config FILE`: the read-only graph pages over the history store; with
[cluster] in the file, the fleet index of every member too (read from the cluster's Redis by
the IndexSource the command line hands in, so this part never imports the cluster's)."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poller.config.cluster import ClusterSettings
from poller.config.load import load_config
from poller.web import server
from poller.web.auth import password_for
from poller.web.fleet import IndexSource
from poller.web.settings import settings_of

#: the other hosts' fleet index of a cluster's settings
SharedIndexFactory = Callable[[ClusterSettings], IndexSource]


def add_parsers(commands: Any, shared_index: SharedIndexFactory | None = None) -> None:
    web = commands.add_parser("web", help="serve the history graphs (read-only web pages)")
    web.add_argument("--config", "-c", required=True, help="fleet file (TOML): its [web] "
                     "and [history] directory, and [cluster] for every member's fleet index "
                     "(secrets outside the file are not read, but for the cluster's password)")
    web.add_argument("--listen", metavar="HOST:PORT", help="overrides [web] listen")
    web.set_defaults(handler=functools.partial(run_web, shared_index=shared_index))


def run_web(args: argparse.Namespace, shared_index: SharedIndexFactory | None = None) -> int:
    # the loader reads [cluster]'s password (its file or credential) whatever read_secrets says
    config = load_config(Path(args.config), read_secrets=False)
    settings = settings_of(config, args.listen)
    password = password_for(settings)  # refuses to start off loopback without one
    cluster = config.cluster
    if cluster is None or shared_index is None:
        return server.serve(settings, password)
    return server.serve(settings, password, shared_index(cluster),
                        f"cluster {cluster.name} in Redis")
