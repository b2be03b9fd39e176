#!/bin/sh
# MLflow tracking server entrypoint: bring the backend store's schema up to date, then serve.
# Configuration comes only from the environment (ECS injects the database URL from Secrets
# Manager), so no credential is baked into the image or printed here.
#   MLFLOW_BACKEND_STORE_URI      required, e.g. postgresql+psycopg://user:pass@host:5432/mlflow
#   MLFLOW_ARTIFACTS_DESTINATION  required, e.g. s3://bucket/mlartifacts
#   MLFLOW_WORKERS                uvicorn workers (default 2)
#   MLFLOW_PORT                   listen port (default 5000)
#   MLFLOW_SERVER_ALLOWED_HOSTS   Host headers to accept besides localhost/private IPs (read by mlflow)
# AWS credentials and MLFLOW_S3_ENDPOINT_URL are read by boto3/mlflow directly.
set -eu

: "${MLFLOW_BACKEND_STORE_URI:?is not set: export the PostgreSQL URL of the mlflow database (postgresql+psycopg://...)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?is not set: export the artifact root, e.g. s3://<bucket>/mlartifacts}"

# Idempotent: a no-op when the schema is current; a fresh database gets every migration.
mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"

exec mlflow server \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --serve-artifacts \
  --host 0.0.0.0 \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-2}" \
  "$@"
