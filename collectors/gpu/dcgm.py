"""GPU telemetry from a dcgm-exporter ``/metrics`` page, into the same fields as the NVML source.

The page is parsed with ``prometheus_client``'s text parser; each ``DCGM_FI_*`` family listed in
:mod:`collectors.gpu.fields` becomes a field of the GPU named by the series' ``UUID`` label
(``uuid`` in dcgm-exporter's legacy mode).  Tags come from the labels ``gpu``, ``UUID`` and
``modelName``; ``Hostname``/``hostname`` (the exporter's host) overrides the ``host`` tag.
MIG instances (``GPU_I_ID``) are folded into their parent GPU: the last series read wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from collectors import schema as s
from collectors.gpu.fields import CLOCKS_EVENT_FIELD, DCGM_FAMILY_FIELD, decode_clocks_event
from collectors.http import HttpGet, http_get
from collectors.point import Point

log = logging.getLogger(__name__)


class DcgmExporterCollector:
    """``collect(now_ns)`` -> one ``gpu`` point per GPU found on the dcgm-exporter page at ``url``."""

    source = "dcgm"

    def __init__(
        self, url: str, *, get: HttpGet = http_get, tags: Mapping[str, str] | None = None, timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self._get = get
        self._tags = dict(tags or {})
        self._timeout_s = timeout_s

    def parse(self, text: str, now_ns: int) -> list[Point]:
        """Points from one exposition text (exposed for tests and tools)."""
        by_gpu: dict[str, tuple[dict[str, str], dict[str, float]]] = {}
        for family in text_string_to_metric_families(text):
            name = DCGM_FAMILY_FIELD.get(family.name)
            if name is None:
                continue
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = sample.labels
                key = labels.get("UUID") or labels.get("uuid") or labels.get("gpu", "")
                entry = by_gpu.get(key)
                if entry is None:
                    tags = dict(self._tags)
                    tags[s.T_GPU.name] = labels.get("gpu", "")
                    tags[s.T_UUID.name] = key
                    tags[s.T_GPU_MODEL.name] = labels.get("modelName", "")
                    host = labels.get("Hostname") or labels.get("hostname")
                    if host:
                        tags[s.T_HOST.name] = host
                    tags[s.T_SOURCE.name] = self.source
                    entry = by_gpu[key] = ({k: v for k, v in tags.items() if v}, {})
                entry[1][name] = float(sample.value)
        points = []
        for tags, fields in by_gpu.values():
            mask = fields.get(CLOCKS_EVENT_FIELD)
            if mask is not None:
                fields.update(decode_clocks_event(mask))
            points.append(Point(s.GPU.name, tags, fields, now_ns))
        return points

    def collect(self, now_ns: int) -> Iterable[Point]:
        return self.parse(self._get(self.url, self._timeout_s), now_ns)

    def close(self) -> None:
        pass


__all__ = ["DcgmExporterCollector"]
