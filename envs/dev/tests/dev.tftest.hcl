# What differs in this environment (its terraform.tfvars) and must stay that way. Offline: the AWS provider is mocked and the secrets module
# (tested on its own in modules/secrets) is replaced by fixed, distinct ARNs so wiring is exact.

mock_provider "aws" {
  source          = "./tests/mocks"
  override_during = plan
}

override_resource {
  target          = module.mlflow.aws_iam_role.task
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/aircast-mlflow-task" }
}

override_module {
  target = module.secrets
  outputs = {
    arns = {
      openaq_api_key               = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/openaq_api_key-s0"
      api_keys                     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/api_keys-s1"
      aircast_database_url         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/aircast_database_url-s2"
      aircast_database_reader_url  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/aircast_database_reader_url-s3"
      mlflow_backend_store_uri     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mlflow_backend_store_uri-s4"
      mage_database_connection_url = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mage_database_connection_url-s5"
      mage_admin_password          = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mage_admin_password-s6"
    }
    names = {
      openaq_api_key               = "aircast/openaq_api_key"
      api_keys                     = "aircast/api_keys"
      aircast_database_url         = "aircast/aircast_database_url"
      aircast_database_reader_url  = "aircast/aircast_database_reader_url"
      mlflow_backend_store_uri     = "aircast/mlflow_backend_store_uri"
      mage_database_connection_url = "aircast/mage_database_connection_url"
      mage_admin_password          = "aircast/mage_admin_password"
    }
  }
}

variables {
  aws_region                   = "eu-west-1"
  api_certificate_arn          = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  API_HOST                     = "api.aircast.example"
  MAGE_RDS_USERNAME            = "aircast_admin"
  MAGE_RDS_PASSWORD            = "test-only-mage-rds"
  MLFLOW_RDS_USERNAME          = "mlflow_admin"
  MLFLOW_RDS_PASSWORD          = "test-only-mlflow-rds"
  MAGEDB_PASSWORD              = "test-only-reader"
  MAGE_DATABASE_CONNECTION_URL = "postgresql+psycopg2://mage:test-only-mage@db.internal.example:5432/mage?sslmode=require"
  OPENAQ_API_KEY               = "test-only-openaq"
  AIRCAST_API_KEYS             = "0000000000000000000000000000000000000000000000000000000000000000"
}

run "dev_is_disposable_and_serves_http_without_a_certificate" {
  command = plan

  variables {
    api_certificate_arn = ""
    API_HOST            = ""
  }

  assert {
    condition     = !module.mage_db.protection.deletion_protection && !module.mage_db.protection.final_snapshot
    error_message = "dev databases can be destroyed without a final snapshot"
  }

  assert {
    condition     = module.mage_db.protection.backup_retention_period >= 1
    error_message = "dev still keeps automated backups"
  }

  assert {
    condition     = length(aws_lb_listener.http) == 1 && length(aws_lb_listener.https) == 0
    error_message = "without a certificate dev serves the API over HTTP"
  }

  assert {
    condition     = startswith(output.api_url, "http://") && strcontains(output.api_url, "elb.amazonaws.com")
    error_message = "without API_HOST the URL is the load balancer's DNS name"
  }
}

run "https_can_be_required" {
  command = plan

  variables {
    require_https       = true
    api_certificate_arn = ""
  }

  expect_failures = [var.require_https]
}
