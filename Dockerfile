# ORA bot. Build: docker build -t ora-bot .   Run: see README.md ("Docker").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 ora \
    && mkdir -p /data \
    && chown ora:ora /data

# Dependencies in their own layer: rebuilt only when pyproject.toml changes. The PostgreSQL driver is included
# (DATABASE_URL=postgresql://… works in the image); it is imported only when used.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY ora ./ora
RUN pip install --no-deps .

USER ora
ENV ORA_BOT_DB=/data/ora_bot.db \
    DATASET_DIR=/data/datasets \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "ora.healthcheck"]

# Exec form: python runs as PID 1 (no shell in between), so SIGTERM from `docker stop` reaches the bot,
# which handles it itself (a clean shutdown, exit 0).
ENTRYPOINT ["python", "-m", "ora"]
