"""`make soak`: the daemon for a long run against a mixed fleet under faults, judged by its records.

The lean responder (tools.fleet) serves the healthy synthetic switches, tests.hostile_agent the
misbehaving agents; everything runs in a private network namespace with packet loss (and delay,
where the kernel has netem) on its loopback. During the run the soak sends SIGHUPs with good and
broken fleet files, SIGKILLs the daemon once and starts it again, and makes the output directory
refuse renames (rotation) for a while under a small `max_bytes`. Afterwards it reads every record
and event and prints one JSON summary (also saved under bench-out/soak/).
"""
