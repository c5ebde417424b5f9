"""The fleet file's `[mibs]` section: an operator's MIB files, compiled once into a cache
(poller.mib.user), whose names profiles may then use.

    [mibs]
    dirs = ["/etc/poller/mibs"]           # every module defined in these files
    modules = ["CISCO-PROCESS-MIB"]       # optional: only these (and what they import)
    cache = "/var/cache/poller/mibs"      # default: $CACHE_DIRECTORY/mibs, ~/.cache/poller/mibs
"""

from __future__ import annotations

from typing import Any

from poller.config.reader import Reader
from poller.mib import names as mib
from poller.mib import user as mib_user

KEYS = ("dirs", "modules", "cache")


def read_mibs(reader: Reader, raw: Any) -> list[str]:
    """Load the section's MIB modules into poller.mib.names; returns their names. Without dirs, the
    names are the standard ones only (an earlier load's modules are dropped)."""
    raw = reader.table(raw, "mibs", KEYS)
    if "dirs" not in raw:
        for key in ("modules", "cache"):
            if key in raw:
                raise reader.fail(f"mibs.{key}", "has no effect without mibs.dirs")
        mib.set_user((), {})
        return []
    base = reader.path.parent
    dirs = [base / d for d in reader.strings(raw["dirs"], "mibs.dirs")]
    if not dirs:
        raise reader.fail("mibs.dirs", "is empty (directories of MIB files)")
    modules = reader.strings(raw["modules"], "mibs.modules") if "modules" in raw else None
    cache = base / reader.string(raw["cache"], "mibs.cache") if "cache" in raw \
        else mib_user.default_cache()
    try:
        return mib_user.load(dirs, modules, cache)
    except mib_user.MibError as exc:
        key = f"mibs.{exc.key}" if exc.key in raw else f"mibs.{exc.key} (default)"
        raise reader.fail(key, str(exc)) from None
