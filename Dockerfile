FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg util-linux \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements-models.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-models.txt

COPY core ./core
COPY storage ./storage
COPY evaluation ./evaluation
COPY bot ./bot

RUN useradd --create-home --uid 10001 soundalike && mkdir -p /app/data \
    && chown soundalike /app/data
USER soundalike
ENV PYTHONUNBUFFERED=1
VOLUME ["/app/data"]

ENTRYPOINT ["python", "-m", "bot"]
