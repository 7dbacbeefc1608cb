"""The shared base of every package that reads user input (``loadgen``, ``collectors``, ``gpusim``).

- :mod:`userinput.strict`: ``StrictModel``, the strict pydantic base (unknown keys rejected, frozen);
- :mod:`userinput.errors`: ``InputError`` and the exit codes every command shares;
- :mod:`userinput.durations`: ``Seconds`` (``"30s"``, ``"5m"``, ...), rates, located errors;
- :mod:`userinput.paths`: paths resolved against the scenario file's folder;
- :mod:`userinput.yaml_source`: YAML reading with line tracking and ``--set`` overrides;
- :mod:`userinput.validation`: pydantic errors -> ``file:line yaml.path: message`` lines.

It imports none of the other packages: they all import it.
"""
