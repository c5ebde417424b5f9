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
from poller.mib import user as mib_user
from poller.mib.names import STANDARD, MibNames

KEYS = ("dirs", "modules", "cache")


def read_mibs(reader: Reader, raw: Any) -> MibNames:
    """The names profiles may use: the standard ones, plus the section's MIB modules."""
    raw = reader.table(raw, "mibs", KEYS)
    if "dirs" not in raw:
        for key in ("modules", "cache"):
            if key in raw:
                raise reader.fail(f"mibs.{key}", "has no effect without mibs.dirs")
        return STANDARD
    base = reader.path.parent
    if not isinstance(raw["dirs"], list) or not raw["dirs"]:
        raise reader.fail("mibs.dirs", "expected a non-empty array (directories of MIB files)")
    dirs = [base / reader.pathname(d, f"mibs.dirs[{i}]") for i, d in enumerate(raw["dirs"])]
    modules = reader.strings(raw["modules"], "mibs.modules") if "modules" in raw else None
    cache = base / reader.pathname(raw["cache"], "mibs.cache") if "cache" in raw \
        else mib_user.default_cache()
    try:
        return mib_user.load(dirs, modules, cache).names
    except mib_user.MibError as exc:
        key = f"mibs.{exc.key}" if exc.key in raw else f"mibs.{exc.key} (default)"
        raise reader.fail(key, str(exc)) from None
