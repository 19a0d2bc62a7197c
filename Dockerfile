# Portal image: web (gunicorn), worker (celery) and management commands share it.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# CPU wheels of torch/torchvision (a CUDA host can swap the index URL for a cu12x one).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.14.1 torchvision==0.29.1 \
 && pip install -r requirements.txt

RUN groupadd --system portal && useradd --system --gid portal --home-dir /app portal \
 && mkdir -p /data/uploads /app/staticfiles && chown -R portal:portal /data

COPY manage.py ./
COPY portal ./portal
COPY screening ./screening
COPY inference ./inference
COPY templates ./templates
COPY static ./static

# Hashed, compressed static files served by WhiteNoise.
ENV STATIC_MANIFEST=true \
    MEDIA_ROOT=/data/uploads
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 DJANGO_SECRET_KEY=build-only \
    python manage.py collectstatic --noinput -v0 && rm -f /tmp/build.sqlite3

USER portal
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--timeout", "60", "--max-requests", "1000", "--max-requests-jitter", "100"]
