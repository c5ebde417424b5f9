"""Several hosts, one fleet: membership with leases decided by Redis time, rendezvous assignment
of devices, one slot grid, counter state carried across hosts, and a pushed fleet. Redis (the
`cluster` extra) is imported only here and only when [cluster] is configured."""
