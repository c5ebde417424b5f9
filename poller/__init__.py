"""poller: an asyncio SNMP fleet poller that writes JSON records to rotating files."""

__version__ = "0.1.0"
