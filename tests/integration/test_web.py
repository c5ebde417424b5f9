"""`poller web` as a real server (a subprocess on a free loopback port) over RRD files the real
history writer made, read over HTTP and by headless Chromium (Debian's `chromium`, driven over
the DevTools protocol): the pages load without console errors, the SVG charts are there, the
sparklines load, screenshots are kept. Server times are measured and printed, not asserted."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.history.index import FleetIndex
from tests.ports import free_tcp_port
from tests.unit.test_web_pages import END, HOSTILE, History, make_history, rrdtool_percentile

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
#: start it as Debian's package runs headless in a container, and never reach the network
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,1600"]


FLEET_TAIL = """
[credentials.public]
community_file = "/nonexistent/community"
[[devices]]
name = "sw1"
host = "192.0.2.1"
credential = "public"
"""


class Server:
    def __init__(self, directory: Path, work: Path, extra: str = "") -> None:
        self.port = free_tcp_port()
        config = work / f"web-{self.port}.toml"
        # a fleet file the loader takes; the web process reads no secret kept outside it
        config.write_text(f'[web]\ndirectory = "{directory}"\n{extra}\n{FLEET_TAIL}')
        self.stderr = work / f"web-{self.port}.stderr"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "poller", "web", "--config", str(config), "--listen",
             f"127.0.0.1:{self.port}"], cwd=ROOT, stderr=self.stderr.open("wb"),
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"poller web exited: {self.stderr.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("poller web did not listen within 20 s")

    def get(self, path: str, auth: str | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path)
        if auth is not None:
            request.add_header("Authorization",
                               "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def page_ms(self, path: str) -> float:
        status, headers, _ = self.get(path)
        assert status == 200, path
        return float(headers["Server-Timing"].partition("dur=")[2])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return make_history(tmp_path_factory.mktemp("web-history"))


@pytest.fixture(scope="module")
def server(history: History, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(history.directory, tmp_path_factory.mktemp("web-server"))
    yield running
    running.stop()


def test_json_over_http_is_rrdtools_percentile(server: Server, history: History) -> None:
    start, end = END - 20 * 3600, END - 4 * 3600
    status, headers, body = server.get(f"/row.json?d=sw1&t=interfaces&i=2&start={start}"
                                       f"&end={end}")
    assert status == 200 and headers["Content-Type"] == "application/json"
    (window,) = json.loads(body)["windows"]
    line = window["charts"][0]["lines"][0]
    path = history.directory / "sw1" / "tables" / "interfaces" / "2.rrd"
    assert line["p95"] == pytest.approx(rrdtool_percentile(path, line["ds"], start, end),
                                        rel=1e-6)
    assert "script-src 'self'" in headers["Content-Security-Policy"]


def test_a_password_file_makes_every_page_ask(history: History, tmp_path: Path) -> None:
    (tmp_path / "password").write_text("s3cret\n")
    guarded = Server(history.directory, tmp_path,
                     f'password_file = "{tmp_path / "password"}"\n')
    try:
        for path in ("/", "/fleet.json", "/static/poller.js", "/device?d=sw1"):
            status, headers, body = guarded.get(path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Basic "), path
            assert b"sw1" not in body
            assert guarded.get(path, "poller:wrong")[0] == 401
            assert guarded.get(path, "poller:s3cret")[0] == 200
    finally:
        guarded.stop()


# -- the browser ---------------------------------------------------------------------------------


class Browser:
    """Headless Chromium and one page target, spoken to over the DevTools websocket."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError("chromium did not open its DevTools port")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])

    def page_websocket(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list",
                                    timeout=10) as answer:
            targets = json.loads(answer.read())
        return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: what each page is checked for, in the page (JavaScript returning a JSON-able value)
PROBE = """({
  charts: document.querySelectorAll("svg.pygal-chart").length,
  tooltips: document.querySelectorAll("svg .tooltip-trigger > title").length,
  images: document.images.length,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length,
  title: document.title,
  rows: document.querySelectorAll("table tr").length
})"""


async def visit(websocket_url: str, url: str, screenshot: Path) -> dict[str, Any]:
    """Load `url`, wait for its load event, and return the probe, the console's errors and
    (saved) a full-page screenshot."""
    import aiohttp

    errors: list[str] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(
            websocket_url, max_msg_size=64 * 2**20) as ws:
        ids = iter(range(1, 10**6))

        async def call(method: str, **params: Any) -> dict[str, Any]:
            number = next(ids)
            await ws.send_json({"id": number, "method": method, "params": params})
            while True:
                message = await asyncio.wait_for(ws.receive_json(), 30)
                _note_error(message, errors)
                if message.get("method") == "Page.loadEventFired":
                    loaded.set()
                if message.get("id") == number:
                    assert "error" not in message, message
                    result: dict[str, Any] = message.get("result", {})
                    return result

        loaded = asyncio.Event()
        for domain in ("Page", "Runtime", "Log"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=url)
        while not loaded.is_set():
            message = await asyncio.wait_for(ws.receive_json(), 30)
            _note_error(message, errors)
            loaded.set() if message.get("method") == "Page.loadEventFired" else None
        await asyncio.sleep(0.3)  # late console messages (a failing sparkline, a CSP report)
        probe = await call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        await call("Runtime.evaluate", expression="1")  # drain what arrived meanwhile
    return {**probe["result"]["value"], "errors": errors}


def _note_error(message: dict[str, Any], errors: list[str]) -> None:
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        errors.append(f"console: {params.get('args')}")
    elif method == "Runtime.exceptionThrown":
        errors.append(f"exception: {params.get('exceptionDetails')}")
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make web-deps)")
def test_chromium_loads_the_pages_without_errors(server: Server, tmp_path: Path) -> None:
    screens = tmp_path / "web-screens"
    screens.mkdir()
    browser = Browser(tmp_path / "chromium-profile")
    try:
        websocket = browser.page_websocket()
        pages = {"fleet": "/", "device": "/device?d=sw1",
                 "row": "/row?d=sw1&t=interfaces&i=1",
                 "hostile": f"/device?d={urllib.request.quote(HOSTILE)}",
                 "group": "/group?d=ups1&g=ups"}
        seen = {name: asyncio.run(visit(websocket, server.url + path, screens / f"{name}.png"))
                for name, path in pages.items()}
    finally:
        browser.stop()
    _keep(screens)
    for name, probe in seen.items():
        assert probe["errors"] == [], (name, probe["errors"])
        assert (screens / f"{name}.png").stat().st_size > 10_000, name
    assert seen["fleet"]["rows"] == 4  # the header and three devices
    assert seen["device"]["images"] == 3 and seen["device"]["broken"] == 0
    assert seen["row"]["charts"] == 8 and seen["row"]["tooltips"] > 1000
    assert seen["group"]["charts"] == 4
    assert seen["hostile"]["title"].startswith(HOSTILE)  # shown as text, never run


def _keep(screens: Path) -> None:
    kept = ROOT / "bench-out"
    if kept.is_dir():
        shutil.copytree(screens, kept / "web-screens", dirs_exist_ok=True)


# -- measured ----------------------------------------------------------------------------------------


def _big_index(directory: Path, devices: int, rows: int) -> None:
    """The index of `devices` devices with `rows` interfaces each, written by the real
    FleetIndex as two worker processes would."""
    indexes = [FleetIndex(directory, f"index-w{w}.json") for w in (1, 2)]
    for number in range(devices):
        name = f"sw{number:05d}"
        index = indexes[number % 2]
        status = "timeout" if number % 17 == 0 else "ok"
        index.add("poll", {"device": name, "status": status, "scheduled_at": "t",
                           "duration_s": 0.2 + number % 7 / 10}, END - number % 300)
        for port in range(1, rows + 1):
            index.add("row", {"device": name, "table": "interfaces", "index": port,
                              "ifName": f"Eth1/{port}", "ifAlias": "uplink", "ifHighSpeed": 1000,
                              "ifOperStatus": 1, "ifHCInOctets_bps": 1e6 * port,
                              "ifHCOutOctets_bps": 5e5 * port}, END)
    for index in indexes:
        assert index.save()


def test_measure_server_times(server: Server, tmp_path: Path) -> None:
    """Printed, not asserted (aims: a row page with its 4 traffic graphs < 300 ms, the fleet
    page at 10,000 devices < 1 s)."""
    row = [server.page_ms("/row?d=sw1&t=interfaces&i=2") for _ in range(5)]
    _big_index(tmp_path / "big", 10_000, 48)
    big = Server(tmp_path / "big", tmp_path)
    try:
        first = big.page_ms("/")
        fleet = [big.page_ms("/?sort=age&order=desc") for _ in range(5)]
        search = big.page_ms("/?q=sw0999&status=ok")
        json_page = big.page_ms("/fleet.json?page=50")
    finally:
        big.stop()
    figures = {"row_page_ms_median": statistics.median(row), "row_page_ms": row,
               "fleet_10000_first_ms": first, "fleet_10000_ms_median": statistics.median(fleet),
               "fleet_10000_search_ms": search, "fleet_10000_json_ms": json_page,
               "index_bytes": sum(p.stat().st_size for p in (tmp_path / "big").glob("*.json"))}
    print("web timings:", json.dumps(figures))
    (tmp_path / "web-timings.json").write_text(json.dumps(figures, indent=1))
    if (ROOT / "bench-out").is_dir():
        (ROOT / "bench-out" / "web-timings.json").write_text(json.dumps(figures, indent=1))
    assert all(value > 0 for value in (*row, first, *fleet, search, json_page))
