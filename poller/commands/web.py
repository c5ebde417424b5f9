"""`poller web --config FILE`: the read-only graph pages over the history store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from poller.web import server
from poller.web.auth import password_for
from poller.web.settings import read_settings


def add_parsers(commands: Any) -> None:
    web = commands.add_parser("web", help="serve the history graphs (read-only web pages)")
    web.add_argument("--config", "-c", required=True, help="fleet file (TOML): its [web] "
                     "and [history] directory (secrets outside the file are not read)")
    web.add_argument("--listen", metavar="HOST:PORT", help="overrides [web] listen")
    web.set_defaults(handler=run_web)


def run_web(args: argparse.Namespace) -> int:
    settings = read_settings(Path(args.config), args.listen)
    password = password_for(settings)  # refuses to start off loopback without one
    return server.serve(settings, password)
