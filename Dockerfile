# One image for the web app, the Prefect worker, the Prefect server and the one-node Slurm of
# docker-compose.yaml (and the Kubernetes manifests in deployment/k8s/): same code, same locked
# dependencies everywhere, so a job submitted by the worker runs exactly the deployed code.
FROM python:3.11-slim-bookworm

# gcc + zlib headers: mappy (minimap2) has no wheel and compiles from source.
# slurm-wlm + munge: the worker submits jobs with sbatch; the `slurm` service runs the daemons.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev zlib1g-dev slurm-wlm munge \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=emgsonar.settings \
    EMGSONAR_PROJECT_DIR=/app \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_HOME=/app/.data/prefect \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app
# dependencies first (cached layer), from the same lock file CI uses
COPY requirements.lock pyproject.toml ./
RUN python -m venv /app/.venv && /app/.venv/bin/pip install -r requirements.lock

COPY . .
RUN /app/.venv/bin/pip install --no-deps -e . \
    && DJANGO_SETTINGS_MODULE=emgsonar.settings /app/.venv/bin/python manage.py collectstatic --no-input -v 0

EXPOSE 8000 4200
# the web app; docker-compose.yaml and deployment/k8s/ override this per service
CMD ["uvicorn", "emgsonar.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
