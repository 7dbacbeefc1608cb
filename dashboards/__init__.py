"""inferload's Grafana dashboards, datasource and Grafana-managed alert rules, as code.

Plain dicts built by a small typed helper (:mod:`dashboards.grafana`, :mod:`dashboards.influxql`),
not grafana-foundation-sdk: the SDK has no InfluxQL query type (a custom query class would be as
much code as the helper) and is alpha; plain dicts are what Grafana's JSON model documents, so the
output can be read against Grafana's docs line by line.  Every measurement, field and tag name
comes from :mod:`collectors.schema`.

Modules: one per dashboard (:mod:`~dashboards.overview`, :mod:`~dashboards.steady_peak`,
:mod:`~dashboards.model_system`, :mod:`~dashboards.gpu`, :mod:`~dashboards.health`),
:mod:`~dashboards.alerting` (alert rules), :mod:`~dashboards.datasource`,
:mod:`~dashboards.build` (writes ``generated/`` and ``provisioning/``; ``--check`` for CI) and
:mod:`~dashboards.expand` (every query of a dashboard expanded the way Grafana expands it: used by
the tests and the benchmark).  ``dashboards/alerts/`` holds the Prometheus rules (not generated here).
"""
