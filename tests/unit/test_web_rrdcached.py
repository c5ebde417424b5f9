"""The pages when the rrdcached they read through is out of reach: no socket, or a socket that
takes the connection and never answers (a stopped daemon would block librrd for good). They
still render from the files, in time, and every page says in one line that its values may be
as old as rrdcached's write delay; without rrdcached they say nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from poller.web.rrdcached import ANSWER_TIMEOUT_S, Rrdcached, ask
from poller.web.series import RrdReader
from poller.web.site import Site
from tests.unit.test_web_pages import END, History, make_history

PAGES = (("/fleet.json", {}), ("/device.json", {"d": "sw1"}),
         ("/row.json", {"d": "sw1", "t": "interfaces", "i": "2"}),
         ("/group.json", {"d": "ups1", "g": "ups"}))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("web-rrdcached"))


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[str]:
    """A unix socket that accepts connections (the kernel's backlog) and never answers."""
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(16)
        yield f"unix:{path}"


def pages(site: Site) -> list[dict[str, object]]:
    replies = []
    for path, query in PAGES:
        reply = site.handle(path, query)
        assert reply.status == 200, (path, reply.body[:300])
        replies.append(orjson.loads(reply.body))
    return replies


def test_without_rrdcached_no_page_warns(history: History) -> None:
    site = Site(history.directory, clock=lambda: END)
    assert [page["warning"] for page in pages(site)] == [None] * len(PAGES)
    assert b'class="warning"' not in site.handle("/row", dict(PAGES[2][1])).body


def test_a_missing_socket_warns_and_the_files_are_read(history: History, tmp_path: Path) -> None:
    address = f"unix:{tmp_path / 'none.sock'}"
    assert ask(address, "PING")[0] is False
    site = Site(history.directory, RrdReader(Rrdcached(address)), clock=lambda: END)
    alone = Site(history.directory, clock=lambda: END)
    replies = pages(site)
    for page in replies:
        warning = str(page["warning"])
        assert address in warning and "out of reach" in warning and "(-w)" in warning
        assert "\n" not in warning
    # the same numbers as read from the files without rrdcached
    assert replies[2]["windows"] == pages(alone)[2]["windows"]
    for path, query in PAGES:
        body = site.handle(path.removesuffix(".json") if path != "/fleet.json" else "/",
                           dict(query)).body
        assert b'<p class="warning" role="status">rrdcached ' in body, path


def test_a_daemon_that_never_answers_costs_a_bounded_wait(history: History,
                                                          silent_socket: str) -> None:
    site = Site(history.directory, RrdReader(Rrdcached(silent_socket)), clock=lambda: END)
    started = time.monotonic()
    replies = pages(site)
    # one question waits its deadline; the silence is remembered for the next pages
    assert time.monotonic() - started < ANSWER_TIMEOUT_S + 2
    assert all("no answer within" in str(page["warning"]) for page in replies)
    assert replies[2]["windows"][0]["charts"][0]["lines"][0]["max"] is not None


def test_a_tcp_history_without_a_web_socket_says_so(history: History) -> None:
    reader = RrdReader(Rrdcached(None, "192.0.2.5:42217"))
    site = Site(history.directory, reader, clock=lambda: END)
    for page in pages(site):
        assert "[history] rrdcached 192.0.2.5:42217 is on TCP" in str(page["warning"])
