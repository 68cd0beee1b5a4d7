# clusterbot: Telegram assistant for business-cluster members.
# Build: docker build -t clusterbot .   Run: docker compose up (see docker-compose.yml and .env.example).

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv \
    && pip install "setuptools>=69" wheel "babel>=2.14"

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so this layer survives source changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The application. It finds locales/ next to its packages, so it is installed in place (editable) in /app
# and /app is shipped as-is.
COPY README.md ./
COPY bot/ bot/
COPY handlers/ handlers/
COPY storage/ storage/
COPY locales/ locales/
RUN pip install --no-deps --no-build-isolation -e . \
    && pybabel compile -d locales -D messages \
    && python -m compileall -q bot handlers storage


FROM python:3.11-slim AS runtime

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data

RUN groupadd --system --gid 10001 clusterbot \
    && useradd --system --uid 10001 --gid clusterbot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin clusterbot \
    && mkdir -p /data \
    && chown clusterbot:clusterbot /data

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
USER clusterbot
VOLUME ["/data"]

ENTRYPOINT ["clusterbot"]
CMD ["run"]
