"""History: poll records kept for years at falling resolution in RRD files (librrd), as MRTG,
Cacti and LibreNMS keep them."""
