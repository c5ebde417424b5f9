"""`make soak` (`python -m tools.soak`): SOAK_SECONDS (1800) with SOAK_DEVICES (2000) devices.

Other knobs: SOAK_INTERVAL (30 s), SOAK_PORTS (8 per synthetic switch), SOAK_HOSTILE_EACH (2
agents per misbehaviour), SOAK_HUP_EVERY (s between SIGHUPs), SOAK_NETEM ("delay 20ms 5ms loss
1%"), SOAK_FAULT_SECONDS (how long the output directory refuses renames), SOAK_KEEP_RECORDS=1.
Exit 0 when nothing was lost, torn, duplicated or falsely `ok` (and the daemon never died nor
took a broken file); 1 with a one-line reason otherwise; 2 when it cannot run here (not root).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tools.soak import analyse, netns, procs
from tools.soak.scenario import Log, Soak
from tools.soak.settings import OUT, Plan, Settings


def main() -> int:
    settings = Settings.from_env()
    # SIGTERM stops like Ctrl-C: the finally blocks stop every process and undo every fault
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if "--inside" in sys.argv:
        return inside(settings)
    if len(sys.argv) == 3 and sys.argv[1] == "--analyse":  # again, from a kept run's files
        return judge(settings, Path(sys.argv[2]))
    why = netns.missing_privilege()
    if why is not None:
        print(why)
        return 2
    return netns.run_inside(settings)


def inside(settings: Settings) -> int:
    plan = Plan.make(settings)
    work = OUT / time.strftime("run-%Y%m%d-%H%M%S")
    _forget_old_records()
    (work / "records").mkdir(parents=True)
    network = json.loads(os.environ.get("SOAK_NETWORK", "{}"))
    modes = sorted({mode for _, mode in plan.hostile.values()})
    print(f"soak: {plan.healthy} synthetic switches + {len(plan.hostile)} hostile agents "
          f"({', '.join(modes)}) for {settings.seconds:g} s, interval {settings.interval_s:g} s; "
          f"network: {network.get('netem') or network.get('loss_rule') or 'no faults'}"
          f"{'; ' + network['delay_rule'] if network.get('delay_rule') else ''}; "
          f"work in {work}", flush=True)
    children = procs.Children()
    soak = Soak(settings, plan, work, children, network)
    try:
        soak.start_agents()
        soak.start_daemon()
        log = soak.run()
    except KeyboardInterrupt:
        print("soak: interrupted; stopping everything", flush=True)
        return 130
    finally:
        soak.release()
        children.stop_all()
        for sink in soak.sinks:
            sink.close()
    (work / "timeline.json").write_text(json.dumps(log.as_dict(), indent=1) + "\n")
    (work / "network.json").write_text(json.dumps(network) + "\n")
    return judge(settings, work)


def judge(settings: Settings, work: Path) -> int:
    """Summarize a run from its work directory (records, timeline.json, network.json)."""
    plan = Plan.make(settings)
    log = Log.from_dict(json.loads((work / "timeline.json").read_text()))
    network = json.loads((work / "network.json").read_text())
    summary = analyse.summarize(settings, plan, work / "records", log, network)
    _save(summary, work)
    if summary["verdict"]["passed"] and not settings.keep_records:
        shutil.rmtree(work / "records", ignore_errors=True)
    print(json.dumps(summary, indent=2))
    result = summary["verdict"]
    print(f"soak: {'passed' if result['passed'] else 'FAILED'}: {result['reason']}")
    return 0 if result["passed"] else 1


def _save(summary: dict[str, Any], work: Path) -> None:
    text = json.dumps(summary, indent=2) + "\n"
    (work / "summary.json").write_text(text)
    (OUT / "summary.json").write_text(text)


def _forget_old_records() -> None:
    """Earlier runs keep their summaries; their records (hundreds of MB) go."""
    OUT.mkdir(parents=True, exist_ok=True)
    for records in OUT.glob("run-*/records"):
        shutil.rmtree(records, ignore_errors=True)
