"""Where points go: InfluxDB (v2 write API), a line-protocol file, a Prometheus endpoint."""
