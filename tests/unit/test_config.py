"""The fleet file loader: valid files load with defaults in place; every kind of mistake stops it
with one exact line naming the file, the key path, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config.load import RESERVED_FIELDS, load_config
from poller.errors import ConfigError
from poller.oid import Oid

ROOT = Path(__file__).resolve().parents[2]

BASE = """
[credentials.public]
community = "s3cr3t-community"
"""
DEVICE = """
[[devices]]
name = "sw1"
host = "127.0.0.1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_a_minimal_file_gets_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + DEVICE))
    (device,) = config.devices
    assert (device.port, device.interval_s, device.timeout_s, device.retries) == (161, 60.0, 2.0, 1)
    assert (device.max_repetitions, device.max_oids_per_request) == (25, 32)
    assert device.profiles == ("system", "interfaces")
    assert device.credential.version == "2c"
    assert device.credential.community.reveal() == "s3cr3t-community"
    group, scalars = device.scalar_groups[0]
    assert group == "system" and scalars[2].name == "sysUpTime"
    assert scalars[2].oid == Oid.parse("1.3.6.1.2.1.1.3.0")
    (table,) = device.tables
    bits = {c.name for c in table.columns if c.bits}
    assert table.name == "interfaces"
    assert bits == {"ifHCInOctets", "ifHCOutOctets", "ifInOctets", "ifOutOctets"}
    # each 64-bit counter has its 32-bit stand-in, for v1 and for agents without ifXTable
    assert [(wide.name, narrow.name) for wide, narrow in table.wide_pairs] == [
        ("ifHCInOctets", "ifInOctets"), ("ifHCOutOctets", "ifOutOctets"),
        ("ifHCInUcastPkts", "ifInUcastPkts"), ("ifHCOutUcastPkts", "ifOutUcastPkts")]
    assert config.output.directory == Path("/var/log/poller")
    assert config.daemon.max_in_flight == 256


def test_overrides_profiles_and_tags(tmp_path: Path) -> None:
    text = BASE + """
[defaults]
interval = "30s"
timeout = "500ms"
[credentials.old]
version = "1"
community = "x"
[profiles.cpu]
scalars = [{ name = "cpu5min", oid = "1.3.6.1.4.1.9.9.109.1.1.1.1.8.1" }, "IF-MIB::ifNumber.0"]
[[profiles.cpu.tables]]
name = "storage"
columns = ["hrStorageDescr", "1.3.6.1.2.1.25.2.3.1.6"]
[[devices]]
name = "sw1"
host = "2001:db8::1"
port = 1161
credential = "old"
profiles = ["cpu"]
interval = 10
retries = 0
tags = { site = "ams1" }
""" + DEVICE.replace("sw1", "sw2")
    sw1, sw2 = load_config(write(tmp_path, text)).devices
    assert (sw1.port, sw1.interval_s, sw1.timeout_s, sw1.retries) == (1161, 10.0, 0.5, 0)
    assert sw1.credential.version == "1" and sw1.tags == (("site", "ams1"),)
    assert [c.name for c in sw1.scalar_groups[0][1]] == ["cpu5min", "ifNumber"]
    assert [c.name for c in sw1.tables[0].columns] == ["hrStorageDescr", "hrStorageUsed"]
    assert sw2.interval_s == 30.0 and sw2.timeout_s == 0.5


def test_the_example_and_demo_files_load() -> None:
    assert load_config(ROOT / "config" / "poller.example.toml").devices
    assert len(load_config(ROOT / "config" / "demo.toml").devices) == 5


F = "fleet.toml"
D = "devices[0] (sw1)"
VERSIONS = '"1", "2c", "3", "v1", "v2c", "v3", 1, 2, 3'
RESERVED = ", ".join(sorted(RESERVED_FIELDS))


@pytest.mark.parametrize(
    "text, message",
    [
        ("[deamon]\n", f"{F}: unknown key 'deamon' (allowed: daemon, output, mibs, defaults, credentials, profiles, devices, history, web, cluster)"),
        ("x = 1\ny = = 2\n", None),  # TOML syntax: the message comes from the parser, with line and column
        (DEVICE.replace('"127.0.0.1"', '"127.0.0.1"\nintervall = 5'),
         f"{F}: {D}: unknown key 'intervall' (allowed: name, host, port, credential, profiles, interval, timeout, retries, max_repetitions, max_oids_per_request, tags, allow_non_increasing, max_walk_rows, max_walk_requests, max_walk_time)"),
        (DEVICE.replace('host', 'interval = "abc"\nhost'),
         f'{F}: {D}.interval: \'abc\' is not a duration (a number of seconds or a string like "500ms", "30s", "5m")'),
        (DEVICE.replace('host', 'credential = "corev3"\nhost'),
         f"{F}: {D}.credential: unknown credential 'corev3' (known: public)"),
        (DEVICE.replace('host', 'profiles = ["system", "cpu"]\nhost'),
         f"{F}: {D}.profiles: unknown profile 'cpu' (known: interfaces, system)"),
        (DEVICE.replace('host', 'profiles = []\nhost'),
         f"{F}: {D}.profiles: is empty (known: interfaces, system)"),
        (DEVICE + DEVICE, f"{F}: devices[1] (sw1).name: duplicate device name 'sw1'"),
        (DEVICE.replace('host', 'port = 70000\nhost'), f"{F}: {D}.port: 70000 is not an integer in 1..65535"),
        (DEVICE.replace('host', 'port = "161"\nhost'), f"{F}: {D}.port: '161' is not an integer in 1..65535"),
        (DEVICE.replace('host', 'retries = -1\nhost'), f"{F}: {D}.retries: -1 is not an integer in 0..10"),
        (DEVICE.replace('host', 'max_repetitions = 0\nhost'), f"{F}: {D}.max_repetitions: 0 is not an integer in 1..1000"),
        (DEVICE.replace('host', 'interval = 3\ntimeout = 2\nhost'),
         f"{F}: {D}.timeout: 2 s x (retries 1 + 1) = 4 s is not below the interval 3 s (allowed: timeout x (retries + 1) < interval)"),
        (DEVICE.replace('"127.0.0.1"', '"not a host"'),
         f"{F}: {D}.host: 'not a host' is not an IPv4 or IPv6 address or a host name"),
        (DEVICE.replace('host = "127.0.0.1"', ''), f"{F}: {D}.host: expected a non-empty string, got None"),
        (DEVICE.replace('host', 'tags = { status = "x" }\nhost'), f"{F}: {D}.tags.status: a tag may not shadow a record field"),
        (DEVICE.replace('host', 'tags = { ifName = "x" }\nhost'), f"{F}: {D}.tags.ifName: a tag may not shadow a record field"),
        (DEVICE.replace('host', 'tags = { rack = 7 }\nhost'), f"{F}: {D}.tags.rack: 7 is not a string"),
        ("[credentials.v3]\nversion = \"4\"\ncommunity = \"x\"\n",
         f"{F}: credentials.v3.version: '4' is not a supported SNMP version (allowed: {VERSIONS})"),
        ("[credentials.v3]\nversion = 4\ncommunity = \"x\"\n",
         f"{F}: credentials.v3.version: 4 is not a supported SNMP version (allowed: {VERSIONS})"),
        ("[credentials.v3]\nversion = true\ncommunity = \"x\"\n",
         f"{F}: credentials.v3.version: true is not a supported SNMP version (allowed: {VERSIONS})"),
        ("[credentials.c]\ncommunity = \"x\"\ncomunity = \"y\"\n",
         f"{F}: credentials.c: unknown key 'comunity' (allowed: version, community, community_env, community_file, community_credential)"),
        # [defaults] are checked where they are written, even with no device using them
        ('[defaults]\ninterval = "abc"\n',
         f'{F}: defaults.interval: \'abc\' is not a duration (a number of seconds or a string like "500ms", "30s", "5m")'),
        ('[defaults]\ncredential = "nope"\n', f"{F}: defaults.credential: unknown credential 'nope' (known: public)"),
        ('[defaults]\nprofiles = ["sytem"]\n', f"{F}: defaults.profiles: unknown profile 'sytem' (known: interfaces, system)"),
        ("[defaults]\nretries = -1\n", f"{F}: defaults.retries: -1 is not an integer in 0..10"),
        ("[defaults]\nport = 0\n", f"{F}: defaults.port: 0 is not an integer in 1..65535"),
        ("[defaults]\nmax_repetitions = 1001\n", f"{F}: defaults.max_repetitions: 1001 is not an integer in 1..1000"),
        ("[defaults]\ninterval = 3\ntimeout = 2\n",
         f"{F}: defaults.timeout: 2 s x (retries 1 + 1) = 4 s is not below the interval 3 s (allowed: timeout x (retries + 1) < interval)"),
        ("[defaults]\ntimeot = 2\n",
         f"{F}: defaults: unknown key 'timeot' (allowed: port, credential, profiles, interval, timeout, retries, max_repetitions, max_oids_per_request, tags, allow_non_increasing, max_walk_rows, max_walk_requests, max_walk_time)"),
        # a device's own value meets a default: the message says which came from where
        ('[defaults]\ntimeout = "5s"\n' + DEVICE.replace('host', 'interval = "6s"\nhost'),
         f"{F}: {D}.timeout (from defaults): 5 s x (retries 1 + 1) = 10 s is not below the interval 6 s (allowed: timeout x (retries + 1) < interval)"),
        ('[defaults]\nprofiles = ["system"]\ntags = { ifName = "x" }\n' + DEVICE.replace('host', 'profiles = ["interfaces"]\nhost'),
         f"{F}: {D}.tags (from defaults).ifName: a tag may not shadow a record field"),
        # a community typed where a credential's name belongs is never echoed
        (DEVICE.replace('host', 'credential = "s3cr3t-community"\nhost'),
         f"{F}: {D}.credential: is a secret (a community or key), not the name of a [credentials.NAME] entry (known: public)"),
        (DEVICE.replace('"127.0.0.1"', '"10.0.0.256"'),
         f"{F}: {D}.host: '10.0.0.256' is not an IPv4 or IPv6 address or a host name"),
        (DEVICE.replace('"127.0.0.1"', '"2001:db8::zz"'),
         f"{F}: {D}.host: '2001:db8::zz' is not an IPv4 or IPv6 address or a host name"),
        (DEVICE.replace('"127.0.0.1"', '"-bad.example.net"'),
         f"{F}: {D}.host: '-bad.example.net' is not an IPv4 or IPv6 address or a host name"),
        (DEVICE.replace('name = "sw1"', 'name = "sw\\n1"'),
         f"{F}: devices[0].name: 'sw\\n1' has spaces around it or control characters"),
        ('"a\\nb" = 1\n',
         f"{F}: unknown key 'a\\nb' (allowed: daemon, output, mibs, defaults, credentials, profiles, devices, history, web, cluster)"),
        ("devices = [1]\n", f"{F}: devices[0]: expected a table, got 1"),
        (DEVICE.replace('host', 'tags = { ok = true }\nhost'), f"{F}: {D}.tags.ok: true is not a string"),
        (DEVICE.replace('host', 'tags = { "a b" = "x" }\nhost'),
         f"{F}: {D}.tags.a b: a tag name is letters, digits, _ . - and starts with a letter or _"),
        (DEVICE.replace('host', 'tags = { x_rate = "x" }\nhost'), f"{F}: {D}.tags.x_rate: a tag may not shadow a record field"),
        (DEVICE.replace('host', 'max_oids_per_request = 0\nhost'),
         f"{F}: {D}.max_oids_per_request: 0 is not an integer in 1..1000"),
        (DEVICE.replace('host', 'timeout = "1d"\nhost'),
         f'{F}: {D}.timeout: \'1d\' is not a duration (a number of seconds or a string like "500ms", "30s", "5m")'),
        (DEVICE.replace('host', 'interval = "0.5s"\nhost'), f"{F}: {D}.interval: '0.5s' is outside 1 s..86400 s"),
        # objects: scalars need their instance, table columns must not have one
        ("[profiles.p]\nscalars = [\"sysUpTime\"]\n",
         f"{F}: profiles.p.scalars[0]: 'sysUpTime' is the object, a GET needs the instance: 'sysUpTime.0'"),
        ("[profiles.p]\nscalars = [\"ifDescr\"]\n",
         f"{F}: profiles.p.scalars[0]: 'ifDescr' is a table column: walk it in [[profiles.NAME.tables]] columns, or GET one row like 'ifDescr.1'"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [\"sysName.0\"]\n",
         f"{F}: profiles.p.tables[0].columns[0]: 'sysName.0' is a scalar, not a table column (list it in the profile's scalars)"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [\"IF-MIB::ifDescr.3\"]\n",
         f"{F}: profiles.p.tables[0].columns[0]: 'IF-MIB::ifDescr.3' names one instance; a table column is walked whole: 'IF-MIB::ifDescr'"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [{ name = \"device\", oid = \"1.3.6.1.4.1.9.1\" }]\n",
         f"{F}: profiles.p.tables[0].columns[0].name: 'device' would shadow a record field (reserved: {RESERVED})"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [{ name = \"x\", oid = \"IF-MIB::ifAlais\" }]\n",
         f"{F}: profiles.p.tables[0].columns[0].oid: unknown name 'IF-MIB::ifAlais' (did you mean 'ifAlias'?)"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [{ name = \"x\", oid = \"1.3.6.1.4.1.9.1\", bits = true }]\n",
         f"{F}: profiles.p.tables[0].columns[0]: unknown key 'bits' (allowed: name, oid)"),
        ("[[profiles.p.tables]]\ncolumns = [\"ifName\"]\n",
         f"{F}: profiles.p.tables[0].name: expected a non-empty string, got None"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = []\n",
         f"{F}: profiles.p.tables[0].columns: expected a non-empty array of columns"),
        ("[profiles.p]\nscalars = [\"sysName.0\"]\ntable = []\n",
         f"{F}: profiles.p: unknown key 'table' (allowed: scalars, tables)"),
        ("[credentials.c]\nversion = \"2c\"\n",
         f"{F}: credentials.c.community: missing (set one of: community, community_env, community_file, community_credential)"),
        ("[credentials.c]\ncommunity = \"a\"\ncommunity_env = \"B\"\n",
         f"{F}: credentials.c.community: set more than once (community, community_env) (set one of: community, community_env, community_file, community_credential)"),
        ("[credentials.c]\ncommunity_env = \"POLLER_TEST_UNSET_VARIABLE\"\n",
         f"{F}: credentials.c.community_env: environment variable 'POLLER_TEST_UNSET_VARIABLE' is not set or empty"),
        ("[credentials.c]\ncommunity_file = \"/nonexistent/community\"\n",
         f"{F}: credentials.c.community_file: cannot read /nonexistent/community: No such file or directory"),
        ("[credentials.c]\ncommunity = 42\n", f"{F}: credentials.c.community: expected a non-empty string"),
        ("[profiles.p]\nscalars = [\"sysUptime.0\"]\n",
         f"{F}: profiles.p.scalars[0]: unknown name 'sysUptime.0' (did you mean 'sysUpTime'?)"),
        ("[profiles.p]\nscalars = [\"1.3.6.x\"]\n", f"{F}: profiles.p.scalars[0]: not a numeric OID: '1.3.6.x'"),
        ("[profiles.p]\n", f"{F}: profiles.p: has neither scalars nor tables"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [\"ifName\", \"ifName\"]\n",
         f"{F}: profiles.p.tables[0].columns: duplicate column name 'ifName'"),
        ("[[profiles.p.tables]]\nname = \"t\"\ncolumns = [\"ifName\"]\nbits = [\"ifHCInOctets\"]\n",
         f"{F}: profiles.p.tables[0].bits[0]: 'ifHCInOctets' is not a column of this table (columns: ifName)"),
        ("[[profiles.p.tables]]\nname = \"interfaces\"\ncolumns = [\"ifName\"]\n" + DEVICE.replace('host', 'profiles = ["p", "interfaces"]\nhost'),
         f"{F}: {D}.profiles: duplicate table name across profiles 'interfaces'"),
        ("[output]\nmax_bytes = \"10 lines\"\n",
         f'{F}: output.max_bytes: \'10 lines\' is not a size of at least 1 KiB (bytes, or a string like "50MiB", "1GB")'),
        ("[output]\ndata_file = \"logs/x.jsonl\"\n",
         f"{F}: output.data_file: 'logs/x.jsonl' must be a file name, not a path (the directory is output.directory)"),
        ("[output]\nevents_file = \"poller.jsonl\"\n", f"{F}: output.events_file: must differ from output.data_file"),
        ("[daemon]\nmax_in_flight = 0\n", f"{F}: daemon.max_in_flight: 0 is not an integer in 1..100000"),
        ("devices = 3\n", f"{F}: devices: expected an array of tables ([[devices]])"),
    ],
)
def test_mistakes_are_one_exact_line(tmp_path: Path, text: str, message: str | None) -> None:
    path = write(tmp_path, text + BASE)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = str(caught.value).replace(str(path), F)
    assert "\n" not in line
    assert "s3cr3t-community" not in line
    if message is None:
        assert line.startswith(f"{F}: TOML syntax: ") and "line 2" in line
    else:
        assert line == message


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^.*/nope.toml: cannot read: No such file or directory$"):
        load_config(tmp_path / "nope.toml")


def test_secrets_come_from_env_files_and_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "community.txt").write_text("from-a-file\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "lab").write_text("from-systemd")
    monkeypatch.setenv("POLLER_TEST_COMMUNITY", "from-the-environment")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    path = write(tmp_path, f"""
[credentials.env]
community_env = "POLLER_TEST_COMMUNITY"
[credentials.file]
community_file = "{tmp_path / 'community.txt'}"
[credentials.systemd]
community_credential = "lab"
""" + DEVICE + 'credential = "env"\n')
    path.chmod(0o644)
    config = load_config(path)
    assert {n: c.community.reveal() for n, c in config.credentials.items()} == {
        "env": "from-the-environment", "file": "from-a-file", "systemd": "from-systemd"}
    assert config.warnings == ()  # no inline secret: others may read the file


def test_inline_secrets_in_a_world_readable_file_draw_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + DEVICE)
    path.chmod(0o644)
    (warning,) = load_config(path).warnings
    assert "readable by every user" in warning and "s3cr3t" not in warning
    path.chmod(0o640)
    assert load_config(path).warnings == ()


@pytest.mark.parametrize("spelling, version", [("1", "1"), ("v1", "1"), (1, "1"), ("2c", "2c"),
                                               ("v2c", "2c"), (2, "2c")])
def test_versions_in_net_snmp_and_telegraf_spellings(
    tmp_path: Path, spelling: object, version: str
) -> None:
    written = f'"{spelling}"' if isinstance(spelling, str) else str(spelling)
    path = write(tmp_path, f"[credentials.c]\nversion = {written}\ncommunity = \"x\"\n"
                           + DEVICE + 'credential = "c"\n')
    assert load_config(path).credentials["c"].version == version


def test_device_tags_add_to_the_default_tags(tmp_path: Path) -> None:
    text = BASE + '[defaults]\ntags = { site = "ams1", role = "access" }\n' + DEVICE + \
        'tags = { role = "core", rack = "r7" }\n' + DEVICE.replace("sw1", "sw2")
    sw1, sw2 = load_config(write(tmp_path, text)).devices
    assert dict(sw1.tags) == {"site": "ams1", "role": "core", "rack": "r7"}
    assert sw2.tags == (("site", "ams1"), ("role", "access"))


def test_a_profile_of_the_same_name_replaces_the_built_in(tmp_path: Path) -> None:
    text = BASE + """
[[profiles.interfaces.tables]]
name = "ports"
columns = ["ifName", "IF-MIB::ifHCInOctets", { name = "crc", oid = "1.3.6.1.4.1.9.2.2.1.1.12" }]
bits = ["ifHCInOctets"]
""" + DEVICE
    config = load_config(write(tmp_path, text))
    assert config.profiles["system"].builtin and not config.profiles["interfaces"].builtin
    (table,) = config.devices[0].tables
    assert table.name == "ports"
    assert [(c.name, c.bits) for c in table.columns] == [
        ("ifName", False), ("ifHCInOctets", True), ("crc", False)]
    assert table.columns[2].oid == Oid.parse("1.3.6.1.4.1.9.2.2.1.1.12")


def test_scalar_groups_are_per_profile_with_scalars(tmp_path: Path) -> None:
    text = BASE + """
[profiles.cpu]
scalars = ["1.3.6.1.2.1.1.3.0", "hrSystemUptime.0", "ifDescr.3"]
""" + DEVICE.replace("host", 'profiles = ["system", "interfaces", "cpu"]\nhost')
    (device,) = load_config(write(tmp_path, text)).devices
    assert [group for group, _ in device.scalar_groups] == ["system", "cpu"]
    assert [c.name for c in device.scalar_groups[1][1]] == ["sysUpTime", "hrSystemUptime", "ifDescr.3"]
    assert [t.name for t in device.tables] == ["interfaces"]


def test_output_settings_sizes_and_a_relative_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for written, size in (('"50MiB"', 50 * 2**20), ('"1GB"', 10**9), ("2048", 2048), ('"4 KiB"', 4096)):
        path = write(tmp_path, f'[output]\ndirectory = "logs"\nmax_bytes = {written}\nbackups = 0\n'
                     + BASE + DEVICE)
        output = load_config(path).output
        assert (output.directory, output.max_bytes, output.backups) == (tmp_path / "logs", size, 0)


@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1", "sw1.example.net", "sw1", "fqdn.example."])
def test_hosts_may_be_addresses_or_names(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, BASE + DEVICE.replace("127.0.0.1", host))
    assert load_config(path).devices[0].host == host


NO_DEVICES = ("devices: no devices: a fleet needs at least one [[devices]] entry (an empty or "
              "cut-off file would stop all polling)")


@pytest.mark.parametrize("text", ["", "\n# a comment\n", BASE, "devices = []\n" + BASE,
                                  BASE + "[defaults]\ninterval = 30\n"])
def test_a_file_without_devices_is_refused(tmp_path: Path, text: str) -> None:
    """An empty or half-written deploy must not load (a reload would stop all polling)."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {NO_DEVICES}"


def test_the_built_in_profiles_are_there_with_one_device(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + DEVICE))
    assert set(config.profiles) == {"system", "interfaces"}


def test_toml_errors_carry_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "[profiles.p]\nscalars = []\n[profiles.p]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: TOML syntax: ")
    assert "line 6" in str(caught.value) and "column" in str(caught.value)


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ConfigError) as caught:
        load_config(binary)
    assert str(caught.value) == f"{binary}: not UTF-8 text (byte 8)"
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read: not a regular file (a directory)"


@pytest.mark.parametrize(
    "text",
    [
        '[credentials.c]\ncommunity = ["s3cr3t-community"]\n',
        '[credentials.c]\ncommunity = "s3cr3t-community"\ncommunity_env = "s3cr3t-community"\n',
        '[credentials.c]\nversion = "3"\ncommunity = "s3cr3t-community"\n',
        '[credentials.c]\ncommunity = "s3cr3t-community"\nauth = "s3cr3t-community"\n',
        DEVICE.replace("host", 'credential = "s3cr3t-community"\nhost'),
        '[defaults]\ncredential = "s3cr3t-community"\n',
    ],
)
def test_no_message_shows_a_community(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BASE.replace("[credentials.public]", "[credentials.x]") + text))
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    "snippet",
    ["zz = 1\n", "[daemon]\nzz = 1\n", "[output]\nzz = 1\n", "[mibs]\nzz = 1\n",
     DEVICE + "[history]\nzz = 1\n", DEVICE + "[web]\nzz = 1\n",
     "[defaults]\nzz = 1\n",
     "[credentials.c]\nzz = 1\n", '[credentials.c]\nversion = "3"\nzz = 1\n',
     "[profiles.p]\nzz = 1\n",
     "[[profiles.p.tables]]\nzz = 1\n", DEVICE + "zz = 1\n",
     '[profiles.p]\nscalars = [{ name = "x", oid = "1.3.6.1.2.1.1.5.0", zz = 1 }]\n',
     ('[[profiles.p.tables]]\nname = "t"\ncolumns = ["ifDescr"]\n'
      'lookups = [{ column = "ifName", by = "ifIndex", zz = 1 }]\n')],
)
def test_the_example_documents_every_key(tmp_path: Path, snippet: str) -> None:
    """Every key the loader allows (read from its own unknown-key message) is in the example."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, BASE + snippet))
    allowed = str(caught.value).rpartition("(allowed: ")[2].rstrip(")").split(", ")
    example = (ROOT / "config" / "poller.example.toml").read_text()
    def documented(key: str) -> bool:
        return any(form in example for form in (f"{key} =", f".{key}]]", f"[{key}]", f"[[{key}]]",
                                                f"[{key}."))

    assert [key for key in allowed if not documented(key)] == []
