"""gpusim: a simulated GPU inference endpoint (OpenAI API over a continuous-batching engine model).

Start it with ``inferload sim`` (:mod:`gpusim.cli`); the engine core (:mod:`gpusim.engine`) is
pure and can be driven in virtual time (:mod:`gpusim.virtual`).  Imports neither ``loadgen``
nor ``collectors``: it stands for someone else's server.
"""

__all__: list[str] = []
