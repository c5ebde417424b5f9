"""The record schema, in one place: the events poller writes, the fixed fields of each, and the
values of the fields that name a kind (`status`, `error_type`, a rate's `_reason`, a drop's
`cause`). docs/records.md documents each of them, and tests/unit/test_schema.py checks both that
it does and that the code writes nothing else, so a new field cannot go undocumented.

A base module: it imports nothing from poller, and every stage may import it.
"""

from __future__ import annotations

# -- every record ------------------------------------------------------------------------------

#: the first two fields of every line, in this order
TIMESTAMP, EVENT = "timestamp", "event"
COMMON_FIELDS = (TIMESTAMP, EVENT)

# -- the data file -------------------------------------------------------------------------------

SCALARS, ROW, POLL = "scalars", "row", "poll"

#: fixed fields of a `scalars` record; the profile's scalars and the device's tags follow
SCALARS_FIELDS = ("device", "group")
#: fixed fields of a `row` record; the table's index fields, the device's tags and labels, the
#: columns and their rate fields follow
ROW_FIELDS = ("device", "table", "index")
#: the fields of a `poll` summary, in the order written (those after `status` only when they apply)
POLL_FIELDS = (
    "device", "address", "seq", "scheduled_at", "status", "error_type", "error", "duration_s",
    "queue_delay_s", "requests", "varbinds", "rows", "uptime_s", "agent_restarted",
    "failed_parts", "warnings", "worker", "owner", "epoch",
)
#: the fields of each entry of a poll's `warnings`, and the warnings
WARNING_FIELDS = ("part", "warning")
NO_COUNTERS = "no_counters"
#: the fields of each entry of a poll's `failed_parts`
FAILED_PART_FIELDS = ("part", "error_type")

DATA_EVENTS: dict[str, tuple[str, ...]] = {
    SCALARS: SCALARS_FIELDS,
    ROW: ROW_FIELDS,
    POLL: POLL_FIELDS,
}

#: a poll's `status`
OK, PARTIAL, TIMEOUT, ERROR, SKIPPED = "ok", "partial", "timeout", "error", "skipped"
STATUSES = (OK, PARTIAL, TIMEOUT, ERROR, SKIPPED)

#: the fields a counter column adds next to its value: `<column>_rate` or (for `bits` columns)
#: `<column>_bps`; `<rate field>_reason` when the rate is null; `<rate field>_from` when a
#: 64-bit rate was computed from the 32-bit column
RATE_SUFFIX, BPS_SUFFIX, REASON_SUFFIX, FROM_SUFFIX = "_rate", "_bps", "_reason", "_from"
#: why a rate is null: the value of `<rate field>_reason`
RATE_REASONS = (
    "first_sample", "agent_restart", "counter_reset", "no_elapsed_time",
    "counter_discontinuity", "above_if_speed",
)

#: field names every data record may carry: tags and profile fields must not shadow them
RESERVED_FIELDS = frozenset(COMMON_FIELDS + SCALARS_FIELDS + ROW_FIELDS + POLL_FIELDS)

# -- error_type --------------------------------------------------------------------------------

#: the SNMP failures (poller.errors: each SnmpError class's `error_type`)
SNMP_ERROR_TYPES = (
    "timeout", "wrong_request_id", "wrong_source", "decode", "transport", "agent_error", "wrong_oid",
    "too_big", "no_such_name", "non_increasing_oid", "oid_loop", "max_walk_rows",
    "max_walk_requests", "max_walk_time", "walk_error", "auth_failed", "unknown_user",
    "unsupported_security_level", "decryption_failed", "not_in_time_window",
    "unknown_engine_id", "agent_report",
)
#: the poll's own failures, written by the scheduler
POLL_DEADLINE, CANCELLED, INTERNAL_ERROR = "poll_deadline", "cancelled", "internal_error"
#: why a poll was skipped (status `skipped`); `overrun` and `late` are also events of their own
OVERRUN, LATE, QUEUE_FULL = "overrun", "late", "queue_full"
SKIP_ERROR_TYPES = (OVERRUN, LATE, QUEUE_FULL)
ERROR_TYPES = SNMP_ERROR_TYPES + (POLL_DEADLINE,) + SKIP_ERROR_TYPES + (CANCELLED, INTERNAL_ERROR)

# -- the events file ---------------------------------------------------------------------------

STARTED, STOPPED, DRAIN, STATS = "started", "stopped", "drain", "stats"
RELOADED, RELOAD_FAILED = "reloaded", "reload_failed"
WORKER_STARTED, WORKER_EXITED = "worker_started", "worker_exited"
WORKER_FAILED, WORKER_KILLED = "worker_failed", "worker_killed"
RECORDS_DROPPED = "records_dropped"
ROTATION_FAILED, ROTATION_RECOVERED = "rotation_failed", "rotation_recovered"
STATE_RESTORED = "state_restored"
STATE_WRITE_FAILED, STATE_WRITE_RECOVERED = "state_write_failed", "state_write_recovered"
#: [cluster] (poller.cluster)
CLUSTER_VIEW, CLUSTER_LEFT, CLUSTER_FLEET = "cluster_view", "cluster_left", "cluster_fleet"
CLUSTER_UNAVAILABLE, CLUSTER_RECOVERED = "cluster_unavailable", "cluster_recovered"
CLUSTER_LEASE_LOST, CLOCK_SKEW = "cluster_lease_lost", "clock_skew"

#: why records were dropped: the `cause` of a `records_dropped` event
DROP_QUEUE_FULL, DROP_WRITE_FAILED = "queue_full", "write_failed"
DROP_WRITER_ERROR, DROP_AFTER_CLOSE = "writer_error", "after_close"
DROP_CAUSES = (DROP_QUEUE_FULL, DROP_WRITE_FAILED, DROP_WRITER_ERROR, DROP_AFTER_CLOSE)

#: every event of the events file and the fields it may carry
EVENTS: dict[str, tuple[str, ...]] = {
    STARTED: ("version", "pid", "config", "devices", "mode", "shard", "fleet_devices", "workers"),
    WORKER_STARTED: ("worker", "pid", "devices", "restarts"),
    WORKER_EXITED: ("worker", "pid", "devices", "signal", "exit_code", "restart_in_s"),
    WORKER_FAILED: ("worker", "pid", "devices", "signal", "exit_code", "exits", "window_s",
                    "error"),
    WORKER_KILLED: ("worker", "pid", "error"),
    RELOADED: ("config", "devices", "added", "removed", "changed", "unchanged", "needs_restart"),
    RELOAD_FAILED: ("config", "error"),
    STATS: ("devices", "polls", "overruns", "lag_p50_s", "lag_p99_s", "lag_max_s", "in_flight",
            "records_written", "records_dropped", "replies_dropped", "loop_lag_s", "rss_mib",
            "open_fds", "worker", "history_stored", "history_skipped", "history_failed",
            "history_dropped", "history_queued"),
    DRAIN: ("signal", "grace_s", "workers", "cause"),
    STOPPED: ("polls", "cancelled", "uptime_s"),
    OVERRUN: ("device", "seq", "scheduled_at"),
    LATE: ("device", "seq", "scheduled_at"),
    RECORDS_DROPPED: ("count", "total", "cause", "reason"),
    ROTATION_FAILED: ("file", "error", "retry_in_s"),
    ROTATION_RECOVERED: ("file", "failed_s", "failed_tries", "size_bytes"),
    STATE_RESTORED: ("directory", "file", "restored", "stale", "changed", "invalid", "none",
                     "unreadable"),
    STATE_WRITE_FAILED: ("file", "error"),
    STATE_WRITE_RECOVERED: ("file",),
    CLUSTER_VIEW: ("host", "epoch", "members", "from_at", "devices"),
    CLUSTER_UNAVAILABLE: ("host", "error", "strict"),
    CLUSTER_RECOVERED: ("host", "unavailable_s"),
    CLUSTER_LEASE_LOST: ("host", "epoch"),
    CLOCK_SKEW: ("host", "skew_s", "threshold_s", "ok"),
    CLUSTER_FLEET: ("host", "version"),
    CLUSTER_LEFT: ("host", "handed_over", "snapshots", "snapshot_bytes"),
}
