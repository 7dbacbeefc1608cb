"""The live view of a run: Locust's web UI speaking LLM, plus the inferload page at ``/inferload/``.

- :mod:`loadgen.web.series`: chart points per interval (p99 TTFT/ITL, target vs achieved req/s, goodput);
- :mod:`loadgen.web.payload`: the JSON the page polls (same functions as the end-of-run summary);
- :mod:`loadgen.web.live`: :class:`LiveView`, attached to the coordinator, cached payload;
- :mod:`loadgen.web.server`: Locust's WebUI with inferload's routes, tab and guards;
- ``static/``: the page (HTML, JS, CSS, shipped as package data; charts are inline SVG).

Import the submodules directly: :mod:`loadgen.web.server` imports Locust, which monkey-patches the
interpreter, so nothing here imports it as a side effect.
"""
