# outreach as a container: `docker compose up` runs it beside PostgreSQL and a mail server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OUTREACH_DATA=/data

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY outreach ./outreach
COPY templates ./templates
COPY config ./config
COPY migrations ./migrations
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /data outreach \
 && mkdir -p /data && chown outreach /data

USER outreach
VOLUME ["/data"]
# config/outreach.toml in /app is read by default; mount another with OUTREACH_CONFIG.
ENTRYPOINT ["outreach"]
CMD ["--help"]
