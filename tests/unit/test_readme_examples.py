"""Every TOML example an operator can copy from README.md, and every file in config/, loads.

A README block is a whole fleet file unless the line before its fence says otherwise:
`<!-- readme-test: fragment -->` (completed here with a `public` credential and one device when
it has none) or `<!-- readme-test: not a fleet file -->` (another program's configuration, only
parsed as TOML). Paths under /etc/poller and /var/cache/poller are moved into a temporary
directory, and the secrets the examples take from the environment, files or systemd credentials
are put there.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from poller import errors
from poller.config.load import load_config

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "mibs"
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<mark>[^>]+?) -->\n)?```toml\n(?P<body>.*?)```",
                   re.DOTALL)
MARKS = {None, "fragment", "not a fleet file"}
COMPLETION_DEVICE = '\n[[devices]]\nname = "readme-example"\nhost = "192.0.2.1"\n'
COMPLETION_CREDENTIAL = '\n[credentials.public]\nversion = "2c"\ncommunity = "public"\n'


def blocks() -> list[tuple[int, str | None, str]]:
    return [(README.count("\n", 0, match.start("body")) + 1, match.group("mark"),
             match.group("body")) for match in BLOCK.finditer(README)]


def test_the_readme_has_its_examples_and_known_marks() -> None:
    found = blocks()
    assert len(found) == README.count("```toml\n") >= 8
    assert {mark for _, mark, _ in found} <= MARKS


def _vendor_mib(directory: Path) -> None:
    """CISCO-PROCESS-MIB as far as README's [mibs] example uses it: two columns of a table."""
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
    for name in re.findall(r'(?:community|_key)_credential\s*=\s*"([^"]+)"', body):
        (credentials / name).write_text("s3cret-from-credential")
    if "[mibs]" in body:
        _vendor_mib(tmp_path / "etc" / "mibs")
    return body


@pytest.mark.parametrize(("line", "mark", "body"), blocks(),
                         ids=[f"README.md:{line}" for line, _, _ in blocks()])
def test_every_readme_toml_block_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       line: int, mark: str | None, body: str) -> None:
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


def _snmp_error_classes() -> list[type[errors.SnmpError]]:
    found, todo = [], [errors.SnmpError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def emitted_error_types() -> set[str]:
    """Every `error_type` a poll record can carry: the SNMP errors poller raises (a base class
    only when some code raises it itself) and the scheduler's own kinds."""
    source = "\n".join(path.read_text() for path in (ROOT / "poller").rglob("*.py")
                       if path.name != "errors.py")
    types = {cls.error_type for cls in _snmp_error_classes()
             if cls.__subclasses__() == [] or re.search(rf"\b{cls.__name__}\(", source)}
    scheduler = (ROOT / "poller" / "run" / "scheduler.py").read_text()
    types |= set(re.findall(r'"error_type": "(\w+)"', scheduler))
    types |= set(re.findall(r'self\._skip\(state, \w+, "(\w+)"', scheduler))
    return types


def test_every_error_type_has_its_line_in_the_readme_table() -> None:
    section = README[README.index("#### `error_type`"):README.index("### Events")]
    rows = [row for row in section.splitlines() if row.startswith("| `")][1:]  # not the header
    documented = {name for row in rows
                  for name in re.findall(r"`(\w+)`", row.split(" | ")[0])}
    emitted = emitted_error_types()
    assert {"timeout", "overrun", "late", "queue_full", "poll_deadline", "cancelled",
            "internal_error", "walk_error", "auth_failed"} <= emitted
    assert emitted - documented == set()
    assert documented - emitted == set()


def test_every_link_inside_the_readme_reaches_a_heading() -> None:
    """GitHub's anchors: the heading in lower case, without punctuation, spaces as hyphens."""
    headings = re.findall(r"(?m)^#{2,4} (.+)$", README)
    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links and links - anchors == set()
