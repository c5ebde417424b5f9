"""`poller web`: read-only pages over the history store (RRD files and the fleet index)."""
