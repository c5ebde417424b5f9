"""Every example an operator can copy from README.md and docs/ works, and every file in config/
loads.

A TOML block is a whole fleet file unless the line before its fence says otherwise:
`<!-- readme-test: fragment -->` (completed here with a `public` credential and one device when
it has none) or `<!-- readme-test: not a fleet file -->` (another program's configuration, only
parsed as TOML). Paths under /etc/poller and /var/cache/poller are moved into a temporary
directory, and the secrets the examples take from the environment, files or systemd credentials
are put there. Every `jq` program of a shell block compiles and reads only fields that records
have; every `error_type` poller can write has its line in docs/records.md.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from poller.config.load import load_config
from tests.unit.test_schema import emitted_error_types

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "mibs"
DOCUMENTS = {path.relative_to(ROOT).as_posix(): path.read_text()
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
RECORDS = ROOT / "docs" / "records.md"
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<mark>[^>]+?) -->\n)?```toml\n(?P<body>.*?)```",
                   re.DOTALL)
SHELL_BLOCK = re.compile(r"```sh\n(?P<body>.*?)```", re.DOTALL)
MARKS = {None, "fragment", "not a fleet file"}
COMPLETION_DEVICE = '\n[[devices]]\nname = "readme-example"\nhost = "192.0.2.1"\n'
COMPLETION_CREDENTIAL = '\n[credentials.public]\nversion = "2c"\ncommunity = "public"\n'


def blocks() -> list[tuple[str, str | None, str]]:
    """(where, mark, body) of every TOML block of README.md and docs/*.md."""
    return [(f"{name}:{text.count(chr(10), 0, match.start('body')) + 1}", match.group("mark"),
             match.group("body"))
            for name, text in DOCUMENTS.items() for match in BLOCK.finditer(text)]


def test_the_documents_have_their_examples_and_known_marks() -> None:
    found = blocks()
    assert len(found) == sum(text.count("```toml\n") for text in DOCUMENTS.values()) >= 8
    assert {mark for _, mark, _ in found} <= MARKS
    assert any(where.startswith("docs/configuration.md:") for where, _, _ in found)


def _vendor_mib(directory: Path) -> None:
    """CISCO-PROCESS-MIB as far as the [mibs] example uses it: two columns of a table."""
    text = (DATA / "POLLER-TEST-MIB.txt").read_text()
    for old, new in (("POLLER-TEST-MIB", "CISCO-PROCESS-MIB"), ("pollerTestMIB", "ciscoProcessMIB"),
                     ("ptPortBytes", "cpmCPUTotal5minRev"), ("ptPortLabel", "cpmCPUMemoryUsed")):
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "CISCO-PROCESS-MIB.my").write_text(text)


def _environment(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The paths of the example moved under tmp_path, with every secret it names in place."""
    body = body.replace("/etc/poller/", f"{tmp_path}/etc/").replace("/var/cache/poller/",
                                                                       f"{tmp_path}/cache/")
    (tmp_path / "etc").mkdir()
    for name in re.findall(r'(?:community|_key)_env\s*=\s*"([^"]+)"', body):
        monkeypatch.setenv(name, "s3cret-from-env")
    for path in re.findall(r'(?:community|_key)_file\s*=\s*"([^"]+)"', body):
        assert Path(path).is_relative_to(tmp_path), path
        Path(path).write_text("s3cret-from-file\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name in re.findall(r'(?:community|_key|password)_credential\s*=\s*"([^"]+)"', body):
        (credentials / name).write_text("s3cret-from-credential")
    if "[mibs]" in body:
        _vendor_mib(tmp_path / "etc" / "mibs")
    return body


@pytest.mark.parametrize(("where", "mark", "body"), blocks(),
                         ids=[where for where, _, _ in blocks()])
def test_every_toml_block_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                where: str, mark: str | None, body: str) -> None:
    parsed = tomllib.loads(body)
    if mark == "not a fleet file":
        assert parsed
        return
    body = _environment(body, tmp_path, monkeypatch)
    if mark == "fragment":
        if "public" not in parsed.get("credentials", {}):
            body += COMPLETION_CREDENTIAL
        if "devices" not in parsed:
            body += COMPLETION_DEVICE
    path = tmp_path / "fleet.toml"
    path.write_text(body)
    config = load_config(path)
    assert config.devices
    named = {device.name for device in config.devices}
    assert named == {d["name"] for d in parsed.get("devices", [])} or named == {"readme-example"}


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    assert load_config(path).devices


# -- error types ---------------------------------------------------------------------------------

def error_type_tables(text: str) -> set[str]:
    """The names in the first column of every table whose first header cell is `error_type`."""
    names: set[str] = set()
    for table in re.findall(r"(?m)^\| `error_type` \|.*\n\|[- :|]+\|\n((?:\|.*\n?)*)", text):
        for row in table.splitlines():
            names |= set(re.findall(r"`(\w+)`", row.split(" | ")[0]))
    return names


def test_the_error_type_table_reader_reads_a_table() -> None:
    text = ("| `error_type` | what happened |\n| --- | --- |\n| `timeout` | none |\n"
            "| `late`, `overrun` | skipped |\n\nafter | `not_this` |\n")
    assert error_type_tables(text) == {"timeout", "late", "overrun"}


def test_every_error_type_has_its_line_in_the_records_document() -> None:
    documented = error_type_tables(RECORDS.read_text())
    emitted = emitted_error_types()
    assert {"timeout", "overrun", "late", "queue_full", "poll_deadline", "cancelled",
            "internal_error", "walk_error", "auth_failed"} <= emitted
    assert emitted - documented == set()
    assert documented - emitted == set()


def test_the_snmpv3_report_table_names_error_types_poller_writes() -> None:
    reported = error_type_tables(DOCUMENTS["docs/snmpv3.md"])
    assert {"auth_failed", "unknown_user", "decryption_failed"} <= reported
    assert reported <= emitted_error_types()


# -- jq recipes ----------------------------------------------------------------------------------

def jq_programs() -> list[tuple[str, str]]:
    """(where, program) of every `jq` call in the shell blocks of README.md and docs/*.md."""
    found = []
    for name, text in DOCUMENTS.items():
        for match in SHELL_BLOCK.finditer(text):
            where = f"{name}:{text.count(chr(10), 0, match.start('body')) + 1}"
            words = shlex.split(match.group("body"), comments=True)
            for at, word in enumerate(words):
                if word == "jq":
                    program = next(w for w in words[at + 1:] if not w.startswith("-"))
                    found.append((where, program))
    return found


def record_fields() -> set[str]:
    """Field names records can have: those docs/records.md names, and those the built-in
    profiles' columns write (values, rates, the reasons for no rate)."""
    text = RECORDS.read_text()
    fields = set(re.findall(r"`(\w+)`", text)) | set(re.findall(r'"(\w+)":', text))
    for device in load_config(ROOT / "config" / "demo.toml").devices:
        for table in device.tables:
            for column in table.columns:
                fields |= {column.name, column.rate_field, column.reason_field}
        for _, group in device.scalar_groups:
            fields |= {column.name for column in group}
    return fields


def fields_read(program: str) -> set[str]:
    """The field names a jq program reads (`.name`), outside its string literals' text."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " ".join(re.findall(r"\\\((.*?)\)", m[0])),
                  program)
    return set(re.findall(r"(?<![\w\]])\.([A-Za-z_]\w*)", code))


def test_the_documents_have_jq_recipes() -> None:
    assert any(where.startswith("README.md:") for where, _ in jq_programs())


def test_the_field_reader_sees_interpolations_and_not_text() -> None:
    assert fields_read('select(.event == "poll") | "\\(.device) in=\\(.ifHCInOctets_bps)."') \
        == {"event", "device", "ifHCInOctets_bps"}


@pytest.mark.parametrize(("where", "program"), jq_programs(),
                         ids=[where for where, _ in jq_programs()])
def test_every_jq_recipe_reads_fields_records_have(where: str, program: str) -> None:
    assert fields_read(program) - record_fields() == set()


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
@pytest.mark.parametrize(("where", "program"), jq_programs(),
                         ids=[where for where, _ in jq_programs()])
def test_every_jq_recipe_compiles(where: str, program: str) -> None:
    compiled = subprocess.run(["jq", "-n", program], capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
