"""A lean simulated SNMP fleet for scale runs: many devices on loopback, each answering from a
snmpsim-data recording or a synthetic 20-port switch, with counters that advance."""
