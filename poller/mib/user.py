"""An operator's own MIB files, compiled once with pysmi into a cache that later starts reuse.

Every module defined in the files of the `[mibs] dirs` (or only those `[mibs] modules` names,
with what they import) is compiled to pysmi's JSON in the cache directory, with a manifest of the
source files it came from (path, size, mtime). A start whose sources match the manifest reads
the JSON and does not load the compiler at all. SNMPv2-SMI, SNMPv2-TC, SNMPv2-CONF and HCNUM-TC
come from poller/mib/base when the dirs do not have them; any other import must be in the dirs.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any, NamedTuple

from poller.mib import names as mib
from poller.mib.names import STANDARD, MibNames, MibObject
from poller.oid import Oid

BASE_DIR = Path(__file__).with_name("base")
MANIFEST = "poller-manifest.json"
#: bumped when what the cache holds changes shape
CACHE_FORMAT = 1
_DEFINITIONS = re.compile(rb"^\s*([A-Za-z][A-Za-z0-9-]*)\s+DEFINITIONS\s*::=", re.MULTILINE)
_SMI_NAMES = {
    "INTEGER": "Integer", "Integer32": "Integer32", "OCTET STRING": "OctetString",
    "OBJECT IDENTIFIER": "ObjectIdentifier", "BITS": "Bits", "Bits": "Bits",
    "Unsigned32": "Unsigned32", "Gauge32": "Gauge32", "Counter32": "Counter32",
    "Counter64": "Counter64", "TimeTicks": "TimeTicks", "IpAddress": "IpAddress",
    "Opaque": "Opaque", "Counter": "Counter32", "Gauge": "Gauge32",
    "NetworkAddress": "IpAddress",
}
#: SNMPv2-TC and HCNUM-TC conventions: (base syntax, DISPLAY-HINT, fixed size)
_BASE_CONVENTIONS: dict[str, tuple[str, str | None, int | None]] = {
    "DisplayString": ("OctetString", "255a", None), "PhysAddress": ("OctetString", "1x:", None),
    "MacAddress": ("OctetString", "1x:", 6), "TruthValue": ("Integer", None, None),
    "TestAndIncr": ("Integer", None, None), "AutonomousType": ("ObjectIdentifier", None, None),
    "InstancePointer": ("ObjectIdentifier", None, None),
    "VariablePointer": ("ObjectIdentifier", None, None),
    "RowPointer": ("ObjectIdentifier", None, None), "RowStatus": ("Integer", None, None),
    "TimeStamp": ("TimeTicks", None, None), "TimeInterval": ("Integer", None, None),
    "DateAndTime": ("OctetString", "2d-1d-1d,1d:1d:1d.1d,1a1d:1d", None),
    "StorageType": ("Integer", None, None), "TDomain": ("ObjectIdentifier", None, None),
    "TAddress": ("OctetString", None, None), "CounterBasedGauge64": ("Counter64", None, None),
    "ZeroBasedCounter64": ("Counter64", None, None),
}


class MibError(ValueError):
    """A MIB file that cannot be read or compiled; the message names the module and file, and
    `key` the `[mibs]` key the operator has to look at (dirs, modules or cache)."""

    def __init__(self, message: str, key: str = "dirs") -> None:
        super().__init__(message)
        self.key = key


def default_cache() -> Path:
    """$CACHE_DIRECTORY/mibs under systemd (CacheDirectory=poller), else ~/.cache/poller/mibs."""
    base = os.environ.get("CACHE_DIRECTORY", "").split(":")[0]
    if base:
        return Path(base) / "mibs"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "poller" / "mibs"


class Loaded(NamedTuple):
    #: the modules compiled into the cache (the wanted ones and what they import)
    modules: list[str]
    #: the standard names plus theirs
    names: MibNames


def load(dirs: list[Path], modules: list[str] | None, cache: Path) -> Loaded:
    """Compile what changed and read the cache: the standard names plus the modules'. Changes
    no names anyone else holds. Raises MibError with one line."""
    sources = _sources(dirs)
    wanted = modules if modules is not None else sorted(sources)
    for name in wanted:
        if name not in sources:
            raise MibError(f"no file in {', '.join(map(str, dirs))} defines module {name!r}",
                           "modules")
    manifest = {"format": CACHE_FORMAT, "wanted": wanted,
                "sources": {n: _stamp(p) for n, p in sorted(sources.items())}}
    if _read_manifest(cache) != manifest:
        _compile(sources, wanted, cache)
        try:
            _write(cache / MANIFEST, json.dumps(manifest, indent=1))
        except OSError as exc:
            raise MibError(f"cannot write the MIB cache {cache}: {exc.strerror or exc}",
                           "cache") from None
    return _read_cache(cache)


def _read_cache(cache: Path) -> Loaded:
    try:
        docs = {p.stem: json.loads(p.read_text()) for p in sorted(cache.glob("*.json"))
                if p.name != MANIFEST}
        objects, indexes = _objects(docs)
    except (OSError, ValueError, LookupError, TypeError, AttributeError) as exc:
        # written by another program, or damaged: say so rather than guess what it meant
        raise MibError(f"cannot read the MIB cache {cache} ({type(exc).__name__}); remove it "
                       "to compile the MIB files again", "cache") from None
    return Loaded(sorted(docs), STANDARD.with_modules(objects, indexes))


def _sources(dirs: list[Path]) -> dict[str, Path]:
    """{module name: file} for every MIB module file in the dirs (first dir wins)."""
    found: dict[str, Path] = {}
    for directory in dirs:
        try:
            files = sorted(directory.iterdir())
        except NotADirectoryError:
            raise MibError(f"{directory} is not a directory") from None
        except OSError as exc:  # missing, unreadable, a name too long...
            raise MibError(f"cannot list {directory}: {exc.strerror or exc}") from None
        for path in files:
            if path.name.startswith("."):
                continue
            module = _module_defined(path)
            if module is not None:
                found.setdefault(module, path)
    return found


def _module_defined(path: Path) -> str | None:
    """The module a regular file defines (None: not a MIB file, or not a regular file)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None  # a FIFO or device would hang or never end the read
        with path.open("rb") as file:
            head = file.read(65536)
    except OSError as exc:
        raise MibError(f"cannot read {path}: {exc.strerror or exc}") from None
    match = _DEFINITIONS.search(head)
    return match[1].decode() if match is not None else None


def _stamp(path: Path) -> list[Any]:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _read_manifest(cache: Path) -> Any:
    try:
        return json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _compile(sources: dict[str, Path], wanted: list[str], cache: Path) -> None:
    """Compile the wanted modules and their imports into the cache, replacing what it held."""
    compiled = _run_pysmi(sources, wanted)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("*.json"):
            old.unlink()
        for name, data in compiled.items():
            _write(cache / f"{name}.json", data)
    except OSError as exc:
        raise MibError(f"cannot write the MIB cache {cache}: {exc.strerror or exc}",
                       "cache") from None


def _run_pysmi(sources: dict[str, Path], wanted: list[str]) -> dict[str, str]:
    """{module: pysmi's JSON} of the wanted modules and what they import."""
    from pysmi import error as smi_error
    from pysmi.codegen import JsonCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiStarParser
    from pysmi.reader import CallbackReader, FileReader
    from pysmi.searcher import StubSearcher
    from pysmi.writer import CallbackWriter

    compiled: dict[str, str] = {}

    def read(name: str, _ctx: Any) -> str:
        path = sources.get(name)
        try:
            return path.read_text(encoding="utf-8", errors="replace") if path else ""
        except OSError:
            return ""  # gone since it was listed: pysmi reports the module missing

    def write(name: str, data: str, _ctx: Any) -> None:
        compiled[name] = data

    compiler = MibCompiler(SmiStarParser(), JsonCodeGen(), CallbackWriter(write))
    compiler.add_sources(CallbackReader(read), FileReader(str(BASE_DIR), recursive=False))
    compiler.add_searchers(StubSearcher(*JsonCodeGen.baseMibs))
    try:
        results = compiler.compile(*wanted, rebuild=True, genTexts=False)
    except smi_error.PySmiError as exc:
        raise MibError(f"compiling {', '.join(wanted)}: {_one_line(exc)}") from None
    except RecursionError:
        # pysmi resolves a module's imports and OIDs recursively, with no guard against a loop
        raise MibError(f"compiling {', '.join(wanted)}: definitions refer to each other in a "
                       "loop (an OID under itself, or modules that import each other)") from None
    for name, status in results.items():
        if str(status) in ("failed", "missing"):
            raise MibError(_failure(name, status, sources))
    return compiled


def _failure(name: str, status: Any, sources: dict[str, Path]) -> str:
    if str(status) == "missing":
        return f"module {name} is imported but no file in the MIB dirs defines it"
    error = getattr(status, "error", None)
    where = f" ({sources[name]})" if name in sources else ""
    return f"cannot compile {name}{where}: {_one_line(error)}"


def _one_line(exc: Any) -> str:
    return " ".join(str(exc).split())[:300]


def _objects(docs: dict[str, dict[str, Any]]) \
        -> tuple[list[MibObject], dict[tuple[str, str], Any]]:
    conventions = _conventions(docs)
    objects, indexes = [], {}
    for module, doc in docs.items():
        for name, item in doc.items():
            if not isinstance(item, dict) or "oid" not in item:
                continue
            kind = {"scalar": mib.SCALAR, "column": mib.COLUMN}.get(item.get("nodetype", ""),
                                                                   mib.NODE)
            syntax = convention = hint = size = None
            if kind != mib.NODE and isinstance(item.get("syntax"), dict):
                syntax, convention, hint, size = _syntax(item["syntax"], conventions)
            objects.append(MibObject(name, module, Oid.parse(item["oid"]), kind, syntax,
                                     convention, hint, size))
            if item.get("nodetype") == "row":
                parts = item.get("indices") or _augmented(item, docs)
                if parts:
                    indexes[(module, name)] = [[p["module"], p["object"], bool(p["implied"])]
                                               for p in parts]
    return objects, indexes


def _augmented(row: dict[str, Any], docs: dict[str, dict[str, Any]]) -> list[Any] | None:
    base = row.get("augmention") or {}
    target = docs.get(base.get("module", ""), {}).get(base.get("object", ""), {})
    return target.get("indices") if isinstance(target, dict) else None


def _conventions(docs: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str | None, int | None]]:
    """Textual conventions by name: SNMPv2-TC's, the standard table's, the compiled modules'."""
    known = dict(_BASE_CONVENTIONS)
    for obj in STANDARD.objects():
        if obj.convention and obj.syntax:
            known.setdefault(obj.convention, (obj.syntax, obj.display_hint, obj.size))
    for doc in docs.values():
        for name, item in doc.items():
            if isinstance(item, dict) and item.get("class") == "textualconvention":
                base = _SMI_NAMES.get((item.get("type") or {}).get("type", ""))
                if base is not None:
                    known[name] = (base, item.get("displayhint"),
                                   _size((item.get("type") or {}).get("constraints")))
    return known


def _syntax(syntax: dict[str, Any], conventions: dict[str, tuple[str, str | None, int | None]]) \
        -> tuple[str | None, str | None, str | None, int | None]:
    name = syntax.get("type", "")
    if name in _SMI_NAMES:
        return _SMI_NAMES[name], None, None, _size(syntax.get("constraints"))
    if name in conventions:
        base, hint, size = conventions[name]
        return base, name, hint, _size(syntax.get("constraints")) or size
    return None, name or None, None, None


def _size(constraints: Any) -> int | None:
    sizes = (constraints or {}).get("size") or []
    if len(sizes) == 1 and sizes[0].get("min") == sizes[0].get("max"):
        return int(sizes[0]["min"])
    return None
