# What makes dev dev (envs/dev/main.tf): disposable, small, HTTP without a certificate. The
# stack's own properties are tested in modules/aircast. Offline: the AWS provider is mocked.

mock_provider "aws" {
  source          = "../../modules/aircast/tests/mocks"
  override_during = plan
}

variables {
  aws_region                   = "eu-west-1"
  MAGE_RDS_USERNAME            = "aircast_writer"
  MAGE_RDS_PASSWORD            = "test-only-mage-rds"
  MLFLOW_RDS_USERNAME          = "mlflow"
  MLFLOW_RDS_PASSWORD          = "test-only-mlflow-rds"
  MAGEDB_PASSWORD              = "test-only-reader"
  MAGE_DATABASE_CONNECTION_URL = "postgresql+psycopg2://mage:test-only-mage@db.internal.example:5432/mage?sslmode=require"
  OPENAQ_API_KEY               = "test-only-openaq"
  AIRCAST_API_KEYS             = "0000000000000000000000000000000000000000000000000000000000000000"
}

run "dev_is_disposable_and_serves_http_without_a_certificate" {
  command = plan

  assert {
    condition = alltrue([
      for db in values(module.aircast.database_protection) :
      !db.deletion_protection && !db.final_snapshot && db.backup_retention_period >= 1
    ])
    error_message = "dev databases can be destroyed without a final snapshot, and still keep automated backups"
  }

  assert {
    condition     = module.aircast.api_listeners == { http = "HTTP" }
    error_message = "without a certificate dev serves the API over HTTP"
  }

  assert {
    condition     = startswith(output.api_url, "http://") && strcontains(output.api_url, "elb.amazonaws.com")
    error_message = "without API_HOST the URL is the load balancer's DNS name"
  }

  assert {
    condition     = alltrue([for days in values(module.aircast.log_retention_days) : days == 30])
    error_message = "dev keeps service logs for 30 days"
  }
}

run "dev_serves_https_with_a_certificate" {
  command = plan

  variables {
    api_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    API_HOST            = "api.dev.aircast.example"
  }

  assert {
    condition     = module.aircast.api_listeners == { https = "HTTPS", http_redirect = "HTTP" }
    error_message = "with a certificate dev serves HTTPS and only redirects HTTP"
  }

  assert {
    condition     = output.api_url == "https://api.dev.aircast.example"
    error_message = "api_url must use the API host over HTTPS"
  }
}
