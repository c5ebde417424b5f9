"""The loader against random input: whatever TOML document it is given, and whatever value of
whatever type sits at any key it knows, the only outcomes are a Config or one ConfigError line.
Anything else (TypeError, RecursionError, OSError...) would kill a daemon on SIGHUP."""

from __future__ import annotations

import datetime
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.config.load import load_config
from poller.config.model import Config
from poller.errors import ConfigError

#: a valid fleet using every section; each example replaces one value somewhere in it
BASE: dict[str, Any] = {
    "daemon": {"max_in_flight": 16, "drain_grace": "5s", "stats_interval": 60,
               "engine": "builtin", "workers": 1, "shard": "0/1"},
    "output": {"directory": "out", "data_file": "d.jsonl", "events_file": "e.jsonl",
               "max_bytes": "1MiB", "max_age": 0, "backups": 2, "compress": False},
    "mibs": {},
    "defaults": {"port": 161, "interval": "30s", "timeout": 1, "retries": 1,
                 "max_repetitions": 10, "max_oids_per_request": 8, "tags": {"site": "a"},
                 "allow_non_increasing": False, "max_walk_rows": 1000,
                 "max_walk_requests": 100, "max_walk_time": "10s"},
    "credentials": {
        "public": {"version": "2c", "community": "public-community"},
        "v3": {"version": "3", "user": "u", "security_level": "authPriv",
               "auth_protocol": "SHA", "auth_key": "auth-key-1", "priv_protocol": "AES",
               "priv_key": "priv-key-1", "context": ""},
    },
    "profiles": {"p": {"scalars": ["sysName.0", {"name": "up", "oid": "1.3.6.1.2.1.1.3.0"}],
                       "tables": [{"name": "t", "columns": ["ifDescr", "ifHCInOctets"],
                                   "bits": ["ifHCInOctets"], "labels": ["ifDescr"],
                                   "labels_interval": "5m",
                                   "lookups": ["ifAlias", {"column": "ifName", "by": "ifIndex"}]}]}},
    "devices": [{"name": "sw1", "host": "127.0.0.1", "credential": "v3",
                 "profiles": ["system", "p"], "tags": {"rack": "r1"}},
                {"name": "sw2", "host": "sw2.example.net"}],
}
#: keys the loader knows that BASE leaves out (other secret sources, [mibs])
EXTRA_KEYS: list[tuple[Any, ...]] = [
    ("credentials", "public", key) for key in ("community_env", "community_file",
                                               "community_credential")
] + [("credentials", "v3", key) for key in ("auth_key_env", "auth_key_file", "priv_key_file",
                                            "priv_key_credential")
] + [("mibs", "dirs"), ("mibs", "modules"), ("mibs", "cache"), ("devices", 0, "port"),
     ("devices", 0, "interval"), ("devices", 1, "max_walk_time"), ("profiles", "new"),
     ("profiles", "p", "tables", 0, "lookups", 1, "by"), ("devices", 2)]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a document, tables and arrays included."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


KEY_PATHS = _paths(BASE) + EXTRA_KEYS

_scalars = st.one_of(
    st.text(max_size=40), st.sampled_from(["", " ", "2c", "3", "auto", "1/0", "0/1", "-1",
                                           "5ms", "1e9s", "..", "/", "/dev/zero", "\x00",
                                           "sysName", "ifHCInOctets", "1.3.6", "a" * 300]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.dates(), st.times(), st.datetimes(min_value=datetime.datetime(1, 1, 1, 0, 0, 1)),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set the value at `path`, creating tables on the way; a path an earlier change made
    impossible (a table replaced by a number) is left alone."""
    for key in path[:-1]:
        if isinstance(doc, dict) and isinstance(key, str):
            doc = doc.setdefault(key, {})
        elif isinstance(doc, list) and isinstance(key, int) and key < len(doc):
            doc = doc[key]
        else:
            return
    last = path[-1]
    if isinstance(doc, dict) and isinstance(last, str):
        doc[last] = value
    elif isinstance(doc, list) and isinstance(last, int):
        if last < len(doc):
            doc[last] = value
        else:
            doc.append(value)


# -- a small TOML writer: every table inline, so any value can sit anywhere ---------------------

def _string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_string(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"


def dumps(doc: dict[str, Any]) -> str:
    return "".join(f"{_string(key)} = {_toml(value)}\n" for key, value in doc.items())


def _outcome(text: str) -> Config | ConfigError:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fleet.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path)
        except ConfigError as exc:
            return exc


def _is_one_line(outcome: Config | ConfigError) -> bool:
    return isinstance(outcome, Config) or "\n" not in str(outcome)


@pytest.fixture(autouse=True)
def private_mib_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[mibs] without `cache` writes the default cache: keep it away from the user's own."""
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))


def test_the_base_document_is_valid() -> None:
    outcome = _outcome(dumps(BASE))
    assert isinstance(outcome, Config), outcome
    assert [d.name for d in outcome.devices] == ["sw1", "sw2"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(KEY_PATHS), _values), min_size=1, max_size=3))
def test_any_value_at_any_known_key(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = _copy(BASE)
    for path, value in changes:
        _put(doc, path, value)
    assert _is_one_line(_outcome(dumps(doc)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(list(BASE) + ["x"]), _values, max_size=5))
def test_any_document_of_the_known_sections(doc: dict[str, Any]) -> None:
    assert _is_one_line(_outcome(dumps(doc)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list('[]{}=",.\n #ab1-_\'\\tu0')), max_size=200))
def test_any_text(text: str) -> None:
    assert _is_one_line(_outcome(dumps(BASE) + text))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
