# syntax=docker/dockerfile:1
# Build stage: the full profile (torch CPU, sentence-transformers, scikit-learn…) builds the wheel and trains the
# default model bundles. Runtime stage: only the serving profile (onnxruntime, Litestar, SQLAlchemy…), non-root,
# with an init process. tests/integration/test_distribution.py reproduces the runtime stage without Docker.
FROM python:3.11-slim AS build
WORKDIR /src
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=true MLFLOW_DISABLE_TELEMETRY=true PIP_NO_CACHE_DIR=1
COPY requirements/ requirements/
RUN python -m pip install --upgrade pip \
 && python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu -c requirements/full.lock -r requirements/full.lock
COPY . .
RUN python -m pip install --no-deps . \
 && python -m pip wheel --no-deps -w /dist . \
 && TRIAGE_HOME=/build triage train default

FROM python:3.11-slim AS runtime
# Tesseract and its language packs read scanned documents (PNG, JPEG, PDFs without a text layer).
RUN apt-get update && apt-get install -y --no-install-recommends tini \
      tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-nld tesseract-ocr-spa \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 triage
COPY requirements/serving.lock /tmp/serving.lock
COPY --from=build /dist/*.whl /tmp/
RUN python -m pip install --no-cache-dir -c /tmp/serving.lock /tmp/*.whl && rm /tmp/*.whl /tmp/serving.lock
COPY --from=build --chown=triage /build/models /srv/triage/models
USER triage
WORKDIR /srv/triage
ENV TRIAGE_HOME=/srv/triage/var TRIAGE_MODEL_DIR=/srv/triage/models
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["triage", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
