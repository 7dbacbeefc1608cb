"""Server-side metrics: each inference server's Prometheus families mapped onto canonical components."""

from collectors.server.families import MAPPINGS, ServerMapping, Source, detect_server
from collectors.server.scrape import ServerMetricsCollector

__all__ = ["MAPPINGS", "ServerMapping", "ServerMetricsCollector", "Source", "detect_server"]
