"""The InfluxDB datasource Grafana reads the dashboards from: InfluxQL, token in a header.

InfluxQL answers on InfluxDB 1.8+, on 2.x (through the bucket's DBRP mapping: 2.x maps every
bucket to a database of the same name) and on 3.x; Flux does neither of the last two well.  The
token goes in an ``Authorization: Token ...`` header (the datasource's custom-header setting), so
the same datasource works against 2.x/3.x tokens; the provisioning file names only ``$INFLUX_TOKEN``
(Grafana expands environment variables in provisioning files), never a secret.
"""

from __future__ import annotations

from typing import Any

from dashboards.grafana import DATASOURCE_UID

DATABASE = "inferload"
TOKEN_ENV = "INFLUX_TOKEN"


def datasource(url: str = "http://influxdb:8086", token: str = "$" + TOKEN_ENV, database: str = DATABASE) -> dict[str, Any]:
    """The datasource definition (the same keys for file provisioning and the HTTP API)."""
    return {
        "name": DATASOURCE_UID, "uid": DATASOURCE_UID, "type": "influxdb", "access": "proxy", "url": url,
        "isDefault": True, "editable": False,
        "jsonData": {"version": "InfluxQL", "dbName": database, "httpMode": "POST",
                     "httpHeaderName1": "Authorization", "timeInterval": "5s"},
        "secureJsonData": {"httpHeaderValue1": f"Token {token}"},
    }


def provisioning() -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [datasource()]}


__all__ = ["DATABASE", "TOKEN_ENV", "datasource", "provisioning"]
