# syntax=docker/dockerfile:1
# Portal image: web (gunicorn), worker (celery), beat and management commands share it.
#
#   docker build -t cxr-portal .                         # CPU (default target "runtime")
#   docker build --target runtime-cuda -t cxr-portal:cuda .   # CUDA worker (NVIDIA runtime)
#
# Multi-stage: wheels are built in "build" with compilers available; the runtime stages copy only
# the virtual environment, the code and the model weights (inside the image: a worker never
# downloads anything at start), and run as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment with every dependency -------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU wheels by default; the CUDA stage below builds its own venv with a CUDA index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1 \
 && pip install -r requirements.txt

# --- app: code, weights and hashed static files (no compilers) --------------------------------------
FROM ${PYTHON_IMAGE} AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Everything .dockerignore lets through: code, templates, static, translations, the weights
# (inference/weights/) and the backup scripts; no tests, data sets, reports or local state.
COPY . ./
# Hashed, compressed static files served by WhiteNoise (no separate static server).
ENV STATIC_MANIFEST=true MEDIA_ROOT=/data/uploads PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
# Translations compiled with Babel (no GNU gettext needed), as `make install` does.
RUN pybabel compile -d locale -D django && pybabel compile -d locale -D djangojs \
 && DATABASE_URL=sqlite:////tmp/build.sqlite3 DJANGO_SECRET_KEY=build-only \
    python manage.py collectstatic --noinput -v0 && rm -f /tmp/build.sqlite3 \
 # the weights are part of the image: fail the build if they are missing or damaged
 && python -c "from inference.predictor import Predictor; Predictor.load(device='cpu')"

# --- runtime (CPU, default) ------------------------------------------------------------------------
FROM app AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /app --shell /usr/sbin/nologin portal \
 && mkdir -p /data/uploads /tmp/metrics && chown -R portal:portal /data /tmp/metrics
USER 10001:10001
EXPOSE 8000 9808
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["gunicorn", "portal.wsgi:application", "--config", "python:portal.gunicorn"]

# --- build-cuda: the same environment with torch's CUDA wheels -------------------------------------
# The cu128 wheels bring the CUDA runtime and cuDNN as pip packages; the host's NVIDIA driver
# comes in through the NVIDIA container runtime, so no CUDA base image is needed.
FROM build AS build-cuda
ARG TORCH_CUDA_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN pip uninstall -y torch torchvision \
 && pip install --index-url "${TORCH_CUDA_INDEX_URL}" torch==2.14.1 torchvision==0.29.1

# --- runtime-cuda: GPU workers (docker compose --profile gpu) ----------------------------------------
FROM runtime AS runtime-cuda
USER root
RUN rm -rf /opt/venv
COPY --from=build-cuda /opt/venv /opt/venv
USER 10001:10001
ENV INFERENCE_DEVICE=cuda
EXPOSE 9808
CMD ["celery", "-A", "portal", "worker", "-Q", "inference", "-l", "INFO", "--concurrency", "1"]
