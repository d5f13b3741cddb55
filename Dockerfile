FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg util-linux \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# WITH_RAY=true adds the optional Ray backend (deploy/compose.ray.yaml builds it so); the default
# image stays without it
ARG WITH_RAY=false
COPY requirements.txt requirements-models.txt requirements-ray.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-models.txt \
    && if [ "$WITH_RAY" = "true" ]; then pip install --no-cache-dir -r requirements-ray.txt; fi

COPY core ./core
COPY storage ./storage
COPY catalog ./catalog
COPY evaluation ./evaluation
COPY bot ./bot

RUN useradd --create-home --uid 10001 soundalike && mkdir -p /app/data \
    && chown soundalike /app/data
USER soundalike
# PYTHONPATH: Ray's worker processes, started by `ray start` in this image, import core from here
ENV PYTHONUNBUFFERED=1 PYTHONPATH=/app
VOLUME ["/app/data"]

ENTRYPOINT ["python", "-m", "bot"]
