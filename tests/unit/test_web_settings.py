"""`[web]` settings, the password rule (none on loopback, required elsewhere, from a file or a
systemd credential), basic-auth checking, and the fleet page's server-side filter, sort and
paging at 10,000 devices."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

from poller.config.load import load_config
from poller.config.settings import default_state_directory
from poller.errors import ConfigError
from poller.web.auth import authorized, is_loopback, password_for
from poller.web.fleet import FleetQuery, query_fleet
from poller.web.settings import WebSettings, read_settings

#: a device the loader takes: a fleet needs one; its community is read from a file
DEVICE = ('\n[credentials.public]\ncommunity_file = "/nonexistent/community"\n'
          '[[devices]]\nname = "x"\nhost = "127.0.0.1"\ncredential = "public"\n')


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text + DEVICE)
    return path


def test_defaults_and_the_history_directory(tmp_path: Path) -> None:
    path = settings_file(tmp_path, '[history]\ndirectory = "rrd"\n')
    # secrets outside the file are not read: the web process never polls
    settings = read_settings(path)
    assert (settings.host, settings.port, settings.user) == ("127.0.0.1", 8080, "poller")
    assert settings.directory == Path.cwd() / "rrd" and settings.password_file is None
    assert read_settings(path, "[::1]:9000").listen == "[::1]:9000"


@pytest.mark.parametrize(("text", "listen", "problem"), [
    ('[web]\nlisten = "localhost"\n', None, "web.listen: 'localhost' is not host:port"),
    ('[web]\nlisten = "1.2.3.4:99999"\n', None, "is not host:port"),
    ("", "[nope]:80", "--listen: '[nope]:80' is not host:port"),
    ('[web]\nport = 1\n', None, "web: unknown key 'port'"),
    ('[web]\nuser = "a\\nb"\n', None, "web.user:"),
    ("[web\n", None, "TOML syntax"),
])
def test_bad_settings_are_one_line(tmp_path: Path, text: str, listen: str | None,
                                   problem: str) -> None:
    path = settings_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_settings(path, listen)
    message = str(caught.value)
    assert problem in message and str(path) in message and "\n" not in message


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.1", False), ("web.example", False)])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_off_loopback_a_password_is_required(tmp_path: Path) -> None:
    settings = WebSettings(host="0.0.0.0", port=8080)
    with pytest.raises(ConfigError) as caught:
        password_for(settings, {})
    assert "0.0.0.0:8080 (not loopback) needs a password" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert password_for(WebSettings(host="::1"), {}) is None


def test_the_password_comes_from_a_file_or_the_systemd_credential(tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "web-password").write_text("from-systemd\n")
    (tmp_path / "file").write_text("from-file\n")
    off = WebSettings(host="192.0.2.1")
    assert password_for(off, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}) == \
        "from-systemd"
    with_file = WebSettings(host="192.0.2.1", password_file=tmp_path / "file")
    assert password_for(with_file, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}) == \
        "from-file"
    (tmp_path / "empty").write_text("\n")
    for name, problem in (("empty", "is empty"), ("missing", "cannot read")):
        with pytest.raises(ConfigError, match=problem):
            password_for(WebSettings(host="192.0.2.1", password_file=tmp_path / name), {})


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("header", "ok"), [
    (_basic("poller:s3cret"), True), (_basic("poller:s3cre"), False),
    (_basic("admin:s3cret"), False), (_basic("poller"), False), (None, False),
    ("Basic !!!", False), ("Bearer x", False), (_basic("poller:s3cret:x"), False)])
def test_basic_auth_checks_user_and_password(header: str | None, ok: bool) -> None:
    assert authorized(header, "poller", "s3cret") is ok


def _fleet_rows(count: int) -> list[dict[str, object]]:
    random.seed(7)
    statuses = ["ok"] * 8 + ["timeout", "partial", None]
    rows: list[dict[str, object]] = []
    for i in range(count):
        status = random.choice(statuses)
        rows.append({"device": f"dev{i:05d}", "status": status, "scheduled_at": None,
                     "age_s": None if status is None else float(random.randint(0, 600)),
                     "duration_s": None if status is None else random.random(),
                     "error_type": "timeout" if status == "timeout" else None,
                     "error": "no answer" if status == "timeout" else None})
    return rows


def test_fleet_pages_filter_and_sort_on_the_server() -> None:
    rows = _fleet_rows(10_000)
    page = query_fleet(rows, FleetQuery(status="timeout", sort="age", descending=True,
                                        page=2, per_page=50))
    timeouts = sorted((r for r in rows if r["status"] == "timeout"),
                      key=lambda r: (-float(r["age_s"]), r["device"]))  # type: ignore[arg-type]
    assert page["total"] == 10_000 and page["matched"] == len(timeouts)
    assert [r["age_s"] for r in page["devices"]] == [r["age_s"] for r in timeouts[50:100]]
    assert page["pages"] == -(-len(timeouts) // 50)
    by_name = query_fleet(rows, FleetQuery(q="DEV0999", per_page=1000))
    assert [r["device"] for r in by_name["devices"]] == [f"dev0999{i}" for i in range(10)]
    last = query_fleet(rows, FleetQuery(sort="duration", descending=True, page=10**6))
    assert last["page"] == last["pages"] == 100
    assert all(r["duration_s"] is None for r in last["devices"])  # unknowns last either way


def test_without_history_the_pages_read_where_the_daemon_would_write(tmp_path: Path) -> None:
    path = settings_file(tmp_path, f'[output]\ndirectory = "{tmp_path / "out"}"\n')
    assert read_settings(path).directory == default_state_directory(path) / "history"
    path = settings_file(tmp_path, f'[daemon]\nstate_directory = "{tmp_path / "st"}"\n')
    assert read_settings(path).directory == tmp_path / "st" / "history"


def test_with_rrdcached_on_tcp_the_files_are_named_under_its_base(tmp_path: Path) -> None:
    """librrd names no absolute path to a remote rrdcached; the index stays on this host."""
    path = settings_file(tmp_path, f'[daemon]\nstate_directory = "{tmp_path / "st"}"\n'
                         '[history]\nrrdcached = "127.0.0.1:42217"\ndirectory = "poller"\n')
    config = load_config(path, read_secrets=False)
    assert config.history is not None
    assert config.history.directory == Path("poller")
    assert config.history.index_directory == tmp_path / "st" / "history"
    assert read_settings(path).directory == tmp_path / "st" / "history"
    for bad in ("/var/lib/rrd", "../up"):
        path.write_text(f'[history]\nrrdcached = "127.0.0.1:42217"\ndirectory = "{bad}"\n'
                        + DEVICE)
        with pytest.raises(ConfigError) as caught:
            load_config(path, read_secrets=False)
        assert "history.directory:" in str(caught.value) and "base directory" in str(caught.value)


@pytest.mark.parametrize(("text", "through", "late"), [
    # no [web] rrdcached: history's when a unix socket, none (and a note) when on TCP
    ('[history]\nrrdcached = "/run/rrdcached.sock"\n', "unix:/run/rrdcached.sock", None),
    ('[history]\nrrdcached = "/run/r.sock"\n[web]\n', "unix:/run/r.sock", None),
    ('[history]\nrrdcached = "127.0.0.1:42217"\ndirectory = "p"\n', None, "127.0.0.1:42217"),
    (('[history]\nrrdcached = "127.0.0.1:42217"\ndirectory = "p"\n[web]\n'
      'rrdcached = "unix:/run/r.sock"\n'), "unix:/run/r.sock", None),
    ('[web]\nrrdcached = "/run/r.sock"\n', "unix:/run/r.sock", None),
    ('[history]\n', None, None),
    ("", None, None),
])
def test_the_pages_read_through_a_unix_rrdcached(tmp_path: Path, text: str, through: str | None,
                                                 late: str | None) -> None:
    settings = read_settings(settings_file(tmp_path, text))
    assert (settings.rrdcached, settings.history_rrdcached) == (through, late)


@pytest.mark.parametrize(("value", "problem"), [
    ('"127.0.0.1:42217"', "web.rrdcached: '127.0.0.1:42217' is on TCP"),
    ('"nowhere"', "web.rrdcached: 'nowhere' is not a unix socket"),
    ("5", "web.rrdcached:"),
])
def test_a_bad_web_rrdcached_is_one_line(tmp_path: Path, value: str, problem: str) -> None:
    path = settings_file(tmp_path, f"[web]\nrrdcached = {value}\n")
    with pytest.raises(ConfigError) as caught:
        read_settings(path)
    message = str(caught.value)
    assert problem in message and str(path) in message and "\n" not in message
