# What makes prod prod (envs/prod/main.tf): protected, redundant, HTTPS only. The stack's own
# properties are tested in modules/aircast. Offline: the AWS provider is mocked.

mock_provider "aws" {
  source          = "../../modules/aircast/tests/mocks"
  override_during = plan
}

variables {
  aws_region                   = "eu-west-1"
  api_certificate_arn          = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  API_HOST                     = "api.aircast.example"
  MAGE_RDS_USERNAME            = "aircast_writer"
  MAGE_RDS_PASSWORD            = "test-only-mage-rds"
  MLFLOW_RDS_USERNAME          = "mlflow"
  MLFLOW_RDS_PASSWORD          = "test-only-mlflow-rds"
  MAGEDB_PASSWORD              = "test-only-reader"
  MAGE_DATABASE_CONNECTION_URL = "postgresql+psycopg2://mage:test-only-mage@db.internal.example:5432/mage?sslmode=require"
  OPENAQ_API_KEY               = "test-only-openaq"
  AIRCAST_API_KEYS             = "0000000000000000000000000000000000000000000000000000000000000000"
}

run "prod_is_protected" {
  command = plan

  assert {
    condition = alltrue([
      for db in values(module.aircast.database_protection) :
      db.deletion_protection && db.final_snapshot && db.multi_az && db.backup_retention_period >= 14
    ])
    error_message = "prod databases must have deletion protection, a final snapshot, Multi-AZ and two weeks of backups"
  }

  assert {
    condition     = module.aircast.api_autoscaling_bounds.min >= 2
    error_message = "prod runs at least two API tasks"
  }

  assert {
    condition     = alltrue([for days in values(module.aircast.log_retention_days) : days >= 365])
    error_message = "prod keeps service logs for a year"
  }

  assert {
    condition     = module.aircast.api_listeners == { https = "HTTPS", http_redirect = "HTTP" }
    error_message = "prod serves HTTPS and only redirects HTTP"
  }

  # modules/aircast tests that require_https refuses to plan without a certificate.
  assert {
    condition     = module.aircast.https_required
    error_message = "prod must refuse to plan without a certificate"
  }
}
