# delete-org-bot: one app process (a replica). HTTP mode on PORT (Slack requests at
# /slack/events, /healthz); Socket Mode when SLACK_APP_TOKEN is set.
#   docker build -t delete-org-bot .
# Several replicas on PostgreSQL: compose.yaml and README "Deploying with several replicas".
# Alone on one host with SQLite: docker run --env-file .env -v delete-org-data:/data -p 3000:3000
# delete-org-bot (and do not set DELETE_ORG_DB in .env, or point it under /data).
FROM python:3.11-slim

# An unprivileged user runs the app; it owns only /data (the SQLite file, when used).
RUN useradd --system --user-group --uid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
    && mkdir /data && chown app:app /data

WORKDIR /app
# The project's own files only (see .dockerignore): the package and what its build reads.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-cache-dir --root-user-action=ignore --disable-pip-version-check . \
    && rm -rf build ./*.egg-info

ENV DELETE_ORG_DB=/data/delete-org-bot.db \
    HOST=0.0.0.0 \
    PORT=3000
VOLUME ["/data"]
EXPOSE 3000
USER app

# Liveness: the process answers HTTP. Readiness (database reachable and migrated) is /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

# Subcommands run the same way: docker run --rm delete-org-bot check-config
ENTRYPOINT ["delete-org-bot"]
