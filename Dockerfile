# One image for every inferload role: master, worker, gpusim, collectors.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY loadgen ./loadgen
COPY collectors ./collectors
COPY gpusim ./gpusim
COPY examples ./examples
RUN pip install --no-cache-dir '.[gpu]'
ENTRYPOINT ["inferload"]
CMD ["--help"]
