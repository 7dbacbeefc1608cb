# One image for every inferload role: master, worker, gpusim, collectors.
#
# Two stages: the build stage installs inferload and its wheels into a virtual environment;
# the final stage copies only that environment onto the same pinned slim base (no compilers,
# no build cache) and runs as an unprivileged user (uid/gid 10001) with a read-only-friendly
# layout: run folders in /app/runs, sink spools and temporary files in /spool.
#   docker build -t inferload:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/inferload
WORKDIR /src
COPY pyproject.toml README.md ./
COPY userinput ./userinput
COPY loadgen ./loadgen
COPY collectors ./collectors
COPY gpusim ./gpusim
COPY dashboards ./dashboards
RUN /opt/inferload/bin/pip install '.[gpu]'

FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 inferload \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin inferload \
 && mkdir -p /app/runs /spool \
 && chown 10001:10001 /app/runs /spool
COPY --from=build /opt/inferload /opt/inferload
COPY examples /app/examples
ENV PATH=/opt/inferload/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/spool \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
USER 10001:10001
VOLUME ["/app/runs", "/spool"]
# 8000 gpusim, 5557 master <- workers, 9646 the master's live Prometheus metrics
EXPOSE 8000 5557 9646
ENTRYPOINT ["inferload"]
CMD ["--help"]
