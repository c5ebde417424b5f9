"""The record schema (poller/schema.py) against both sides: docs/records.md documents every event,
field and kind it names, and the code writes nothing it does not name. A new field, event or
error_type fails here until it is in the schema and in the document."""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller import errors, schema
from poller.config.load import RESERVED_FIELDS
from poller.config.model import HistorySettings
from poller.history.rrd import RrdFiles
from poller.history.store import HistoryStore
from poller.history.writer import HistoryWriter
from poller.output import writer
from poller.run.local import stats_fields
from poller.run.scheduler import Scheduler
from poller.run.workers.record_pipe import KIND_DATA, ShippedRecords
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeRequester
from tests.unit.test_scheduler import agent, device, run_fleet

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "poller"
DOC = (ROOT / "docs" / "records.md").read_text()

# -- the document ------------------------------------------------------------------------------


def section(text: str, heading: str) -> str:
    """The text under the heading that starts with `heading`, up to the next heading of its
    level or above."""
    match = re.search(rf"(?m)^{re.escape(heading)}.*$", text)
    assert match, f"docs/records.md has no heading {heading!r}"
    level = len(heading) - len(heading.lstrip("#"))
    end = re.compile(rf"(?m)^#{{1,{level}}} ")
    following = end.search(text, match.end())
    return text[match.end():following.start() if following else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row of `text`, headers and their rules left out."""
    lines = text.splitlines()
    return [[cell.strip() for cell in line.strip("|").split(" | ")]
            for line, after in zip(lines, lines[1:] + [""])
            if line.startswith("| ") and not line.startswith("| ---") and not after.startswith("| ---")]


def names(cell: str) -> set[str]:
    """The names written as code in a cell: `device`, `lag_p50_s` (not `<column>_rate`)."""
    return set(re.findall(r"`(\w+)`", cell))


def undocumented(doc: str) -> list[str]:
    """Every name of the schema that `doc` does not document where it belongs."""
    missing: list[str] = []
    for event, fields in schema.DATA_EVENTS.items():
        documented = {n for row in table_rows(section(doc, f"## `{event}`")) for n in names(row[0])}
        missing += [f"{event}.{f}" for f in (event, *fields) if f not in documented | {event}]
    poll_rows = {cell: text for cell, *rest in table_rows(section(doc, "## `poll`"))
                 for text in [" | ".join(rest)]}
    missing += [f"status {s}" for s in schema.STATUSES if f"`{s}`" not in poll_rows.get("`status`", "")]
    missing += [f"failed_parts.{f}" for f in schema.FAILED_PART_FIELDS
                if f'"{f}"' not in poll_rows.get("`failed_parts`", "")]
    row_rows = {cell: " | ".join(rest) for cell, *rest in table_rows(section(doc, "## `row`"))}
    missing += [f"rate reason {r}" for r in schema.RATE_REASONS
                if f"`{r}`" not in row_rows.get("`<rate>_reason`", "")]
    for suffix in (schema.RATE_SUFFIX, schema.BPS_SUFFIX, schema.REASON_SUFFIX, schema.FROM_SUFFIX):
        if not any(cell.startswith("`<") and cell.endswith(f">{suffix}`") for cell in row_rows):
            missing.append(f"rate field *{suffix}")
    error_types = {n for row in table_rows(section(doc, "### `error_type`")) for n in names(row[0])}
    missing += [f"error_type {e}" for e in schema.ERROR_TYPES if e not in error_types]
    missing += [f"error_type {e} (not in the schema)" for e in error_types - set(schema.ERROR_TYPES)]
    missing += _undocumented_events(doc)
    return missing


def _undocumented_events(doc: str) -> list[str]:
    events = section(doc, "## Events")
    rows = table_rows(events)
    fields_of = {event: names(row[1]) for row in rows if len(row) == 3 for event in names(row[0])}
    missing = [f"event {e}" for e in schema.EVENTS if e not in fields_of]
    missing += [f"event {e} (not in the schema)" for e in fields_of.keys() - schema.EVENTS.keys()]
    missing += [f"{event}.{f}" for event, fields in schema.EVENTS.items() if event in fields_of
                for f in fields if f not in fields_of[event]]
    causes = {n for row in rows if len(row) == 2 for n in names(row[0])}
    missing += [f"records_dropped cause {c}" for c in schema.DROP_CAUSES if c not in causes]
    return missing


def test_the_document_documents_every_name_of_the_schema() -> None:
    assert undocumented(DOC) == []


@pytest.mark.parametrize("removed", [
    "| `agent_restarted` |", "`lag_p99_s`, ", "| `oid_loop` |", "`counter_reset` (", "`worker_killed`",
    "| `group` |", "| `writer_error` |",
])
def test_a_name_missing_from_the_document_is_found(removed: str) -> None:
    """The check can fail: the document with one name taken out is caught."""
    assert removed in DOC
    assert undocumented(DOC.replace(removed, "| ", 1)) != []


# -- the code ----------------------------------------------------------------------------------


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "schema.py":
            yield path, ast.parse(path.read_text(), filename=str(path))


def _dict_returns() -> dict[str, set[str]]:
    """Functions whose every return is a dict display with string keys (`exit_fields`,
    `stats_fields`, ...): their name -> the keys they may return."""
    found: dict[str, set[str]] = {}
    for _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)]
                if returns and all(isinstance(r, ast.Dict) for r in returns):
                    found[node.name] = {k.value for r in returns for k in r.keys  # type: ignore[union-attr]
                                        if isinstance(k, ast.Constant)}
    return found


def _keys(node: ast.expr, function: ast.AST, dict_returns: dict[str, set[str]]) -> set[str] | None:
    """The keys a `**node` splat passes, or None when they cannot be read from the source."""
    if isinstance(node, ast.Dict):
        keys: set[str] = set()
        for key, value in zip(node.keys, node.values):
            inner = {key.value} if isinstance(key, ast.Constant) else _keys(value, function, dict_returns)
            if inner is None:
                return None
            keys |= inner
        return keys
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in dict_returns:
        return dict_returns[node.func.id]
    if isinstance(node, ast.Name):
        assigned = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        if len(assigned) == 1:
            return _keys(assigned[0], function, dict_returns)
    return None


def written_events() -> dict[str, set[str]]:
    """Every `.event("name", field=..., **splat)` call in poller: event name -> the fields it
    writes (a splat's keys where the source says them)."""
    dict_returns = _dict_returns()
    written: dict[str, set[str]] = {}
    for _, tree in _modules():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(function):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "event" and call.args
                        and isinstance(call.args[0], ast.Constant)):
                    fields = written.setdefault(call.args[0].value, set())
                    for keyword in call.keywords:
                        if keyword.arg is not None:
                            fields.add(keyword.arg)
                        else:
                            fields |= _keys(keyword.value, function, dict_returns) or set()
    return written


def test_every_event_the_code_writes_is_in_the_schema_with_its_fields() -> None:
    written = written_events()
    assert len(written) >= 10  # the scan found the producers
    assert written.keys() <= schema.EVENTS.keys()
    for event, fields in written.items():
        assert fields <= set(schema.EVENTS[event]), f"{event}: {sorted(fields - set(schema.EVENTS[event]))}"
    assert set(writer.DROP_REASONS) == set(schema.DROP_CAUSES)


def _error_classes() -> list[type[errors.SnmpError]]:
    found, todo = [], [errors.SnmpError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def emitted_error_types() -> set[str]:
    """Every `error_type` a poll record can carry: the SNMP errors poller raises (a base class
    only when some code raises it itself), the literal ones (`"error_type": "queue_full"`), and
    the skipped kinds (`self._skip(state, tick, "overrun", ...)`)."""
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py")
                       if p.name not in ("errors.py", "schema.py"))
    types = {cls.error_type for cls in _error_classes()
             if cls.__subclasses__() == [] or re.search(rf"\b{cls.__name__}\(", source)}
    types |= set(re.findall(r'"error_type": "(\w+)"', source))
    types |= set(re.findall(r'self\._skip\(state, \w+, "(\w+)"', source))
    return types


def test_the_error_types_are_the_ones_the_code_writes() -> None:
    emitted = emitted_error_types()
    assert {"timeout", "overrun", "late", "queue_full", "poll_deadline", "cancelled",
            "internal_error", "walk_error", "auth_failed"} <= emitted
    assert emitted == set(schema.ERROR_TYPES)


def test_every_status_the_code_writes_is_in_the_schema() -> None:
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    statuses = set(re.findall(r'"status": "(\w+)"', source))
    statuses |= set(re.findall(r'return "(\w+)"', (PACKAGE / "poll" / "device.py").read_text()))
    assert {"ok", "skipped", "error"} <= statuses <= set(schema.STATUSES)


def _free_fields(dev: Any, record: dict[str, Any]) -> set[str]:
    """The fields of a data record that are the device's own: its columns, their rate fields,
    its tags."""
    columns = [c for _, group in dev.scalar_groups for c in group]
    columns += [c for table in dev.tables for c in table.columns]
    own = {c.name for c in columns} | {c.rate_field for c in columns} | set(dev.tags)
    own |= {part.name for table in dev.tables for part in table.index_parts or ()}
    own |= {f"{c.rate_field}{suffix}" for c in columns
            for suffix in (schema.REASON_SUFFIX, schema.FROM_SUFFIX)}
    return own


def test_a_scheduler_round_writes_only_what_the_schema_names() -> None:
    """Healthy, dead and too slow devices polled a while with the fake client: each record's
    fixed fields, status, error types and rate reasons are in the schema."""
    healthy = device("ok", "127.0.0.11", interval_s=10.0)
    dead = device("dead", "127.0.0.12", interval_s=10.0, timeout_s=1.0)
    slow = device("slow", "127.0.0.13", interval_s=1.0)
    sink, _, _ = run_fleet([healthy, dead, slow], {
        "127.0.0.11": agent(), "127.0.0.12": agent(dead=True), "127.0.0.13": agent(delay_s=0.8),
    }, 30.0)
    devices = {d.name: d for d in (healthy, dead, slow)}
    seen: dict[str, set[str]] = {}
    kinds: set[str] = set()
    for event, record in sink.records:
        assert event in schema.DATA_EVENTS
        fixed = set(record) - _free_fields(devices[record["device"]], record)
        assert fixed <= set(schema.DATA_EVENTS[event]), f"{event}: {sorted(fixed)}"
        seen.setdefault(event, set()).update(fixed)
        if event == schema.POLL:
            assert record["status"] in schema.STATUSES
            kinds |= {record["status"], record.get("error_type", "")}
            assert record.get("error_type", "timeout") in schema.ERROR_TYPES
            for part in record.get("failed_parts", ()):
                assert set(part) <= set(schema.FAILED_PART_FIELDS)
        reasons = {v for k, v in record.items() if k.endswith(schema.REASON_SUFFIX)}
        assert reasons <= set(schema.RATE_REASONS)
    assert seen.keys() == {schema.SCALARS, schema.ROW, schema.POLL}
    assert {"error_type", "failed_parts"} <= seen[schema.POLL]
    assert {"ok", "timeout", "partial", "poll_deadline"} <= kinds
    for event, fields in sink.events:
        assert set(fields) <= set(schema.EVENTS[event])


def test_the_stats_fields_and_a_workers_poll_are_in_the_schema() -> None:
    async def main() -> list[bytes]:
        sent: list[bytes] = []
        shipped = ShippedRecords(sent.append, worker=2)
        shipped.data_many(schema.POLL, [{"device": "a", "status": "ok"}])
        shipped.flush()
        return sent

    (payload,) = asyncio.run(main())
    assert payload.startswith(KIND_DATA)
    poll = json.loads(payload[1:])
    assert list(poll)[:2] == list(schema.COMMON_FIELDS)
    assert set(poll) - set(schema.COMMON_FIELDS) <= set(schema.POLL_FIELDS)
    assert "worker" in poll

    async def stats() -> dict[str, Any]:
        sink = ShippedRecords(lambda _: None, worker=0)
        scheduler = Scheduler((), SnmpClient(FakeRequester({})), sink, max_in_flight=1)
        return stats_fields(scheduler, sink, 0.0)

    fields = asyncio.run(stats())
    # with [history], the writer's counts join them (poller.run.local)
    writer = HistoryWriter(HistoryStore(HistorySettings(), {}, RrdFiles()))
    history = writer.stats()
    writer.close()
    assert set(fields) | {"worker"} | set(history) == set(schema.EVENTS[schema.STATS])


def test_reserved_fields_are_the_fixed_fields_of_the_data_records() -> None:
    assert RESERVED_FIELDS is schema.RESERVED_FIELDS
    assert {"timestamp", "event", "device", "index", "status", "worker"} <= RESERVED_FIELDS
