# The security properties and the wiring that must hold in every environment (envs/* only
# choose sizes and protection). Offline: the AWS provider is mocked and the secrets module
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
  environment         = "test"
  api_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  api_host            = "api.aircast.example"
  credentials = {
    mage_db_username             = "aircast_writer"
    mage_db_password             = "test-only-mage-rds"
    mlflow_db_username           = "mlflow"
    mlflow_db_password           = "test-only-mlflow-rds"
    reader_db_password           = "test-only-reader"
    mage_database_connection_url = "postgresql+psycopg2://mage:test-only-mage@db.internal.example:5432/mage?sslmode=require"
    openaq_api_key               = "test-only-openaq"
    api_keys                     = "0000000000000000000000000000000000000000000000000000000000000000"
  }
}

# One plan, many assertions: every run is a full plan of ~100 resources, and the error message
# of a failing assertion names the property.
run "security_and_wiring" {
  command = plan

  assert {
    condition = { for s in module.api.container_definition.secrets : s.name => s.valueFrom } == {
      AIRCAST_DATABASE_READER_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/aircast_database_reader_url-s3"
      AIRCAST_API_KEYS            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/api_keys-s1"
    }
    error_message = "api must get the reader URL and the API key digests, and nothing else, from Secrets Manager"
  }

  assert {
    condition = { for s in module.mlflow.container_definition.secrets : s.name => s.valueFrom } == {
      MLFLOW_BACKEND_STORE_URI = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mlflow_backend_store_uri-s4"
    }
    error_message = "mlflow must get only its backend store URI from Secrets Manager"
  }

  assert {
    condition = { for s in module.mage.container_definition.secrets : s.name => s.valueFrom } == {
      AIRCAST_DATABASE_URL         = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/aircast_database_url-s2"
      MAGE_DATABASE_CONNECTION_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mage_database_connection_url-s5"
      OPENAQ_API_KEY               = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/openaq_api_key-s0"
      DEFAULT_OWNER_PASSWORD       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mage_admin_password-s6"
    }
    error_message = "mage must get the writer URL, its metadata DB URL, the OpenAQ key and its owner password from Secrets Manager"
  }

  assert {
    condition = alltrue(flatten([
      for c in [module.api.container_definition, module.mlflow.container_definition, module.mage.container_definition] : [
        for e in c.environment : (
          length(regexall("(?i)(PASSWORD|SECRET|TOKEN|API_KEY|DATABASE_URL|CONNECTION_URL|STORE_URI)", e.name)) == 0
          && length(regexall("://[^/@]+:[^/@]+@", e.value)) == 0
          && !strcontains(e.value, "test-only")
        )
      ]
    ]))
    error_message = "a container definition carries a credential in its plaintext environment"
  }

  assert {
    condition     = { for e in module.api.container_definition.environment : e.name => e.value }["MLFLOW_TRACKING_URI"] == "http://mlflow.aircast.internal:5000"
    error_message = "api must reach MLflow by its internal Cloud Map name"
  }

  assert {
    condition     = contains(keys({ for e in module.api.container_definition.environment : e.name => e.value }), "AIRCAST_MODEL_POLL_SECONDS")
    error_message = "api must get AIRCAST_MODEL_POLL_SECONDS"
  }

  assert {
    condition     = { for e in module.mlflow.container_definition.environment : e.name => e.value }["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://${module.artifacts.bucket_name}/mlartifacts"
    error_message = "mlflow must store artifacts under s3://<artifact bucket>/mlartifacts"
  }

  assert {
    condition     = contains(keys({ for e in module.mlflow.container_definition.environment : e.name => e.value }), "MLFLOW_WORKERS")
    error_message = "mlflow must get MLFLOW_WORKERS"
  }

  assert {
    condition     = { for e in module.mage.container_definition.environment : e.name => e.value }["REQUIRE_USER_AUTHENTICATION"] == "1"
    error_message = "mage must require user authentication"
  }

  assert {
    condition = one([
      for s in jsondecode(module.artifacts.policy_json).Statement : s.Principal.AWS if s.Sid == "AllowListedRoles"
    ]) == ["arn:aws:iam::123456789012:role/aircast-mlflow-task"]
    error_message = "the bucket policy must grant object access to the MLflow task role only"
  }

  assert {
    condition     = strcontains(module.mlflow.task_role_policies["artifacts"], "arn:aws:s3:::${module.artifacts.bucket_name}")
    error_message = "the MLflow task role must be allowed into the artifact bucket"
  }

  assert {
    condition     = length(module.api.task_role_policies) == 0 && length(module.mage.task_role_policies) == 0
    error_message = "api and mage must have no AWS permissions of their own (artifacts go through MLflow's proxy)"
  }

  assert {
    condition     = !module.mlflow_db.publicly_accessible && !module.mage_db.publicly_accessible
    error_message = "RDS instances must not be publicly accessible"
  }

  assert {
    condition     = module.mlflow_db.storage_encrypted && module.mage_db.storage_encrypted
    error_message = "RDS storage must be encrypted"
  }

  assert {
    condition     = module.mlflow_db.kms_key_arn == aws_kms_key.this.arn && module.mage_db.kms_key_arn == aws_kms_key.this.arn
    error_message = "RDS must be encrypted with the project key"
  }

  assert {
    condition     = module.mlflow_db.force_ssl && module.mage_db.force_ssl
    error_message = "RDS parameter groups must force TLS"
  }

  assert {
    condition     = module.mlflow_db.master_password_managed && module.mage_db.master_password_managed
    error_message = "RDS must generate, keep (in Secrets Manager) and rotate the master passwords"
  }

  assert {
    condition     = module.mage.target_group_arn == null && module.mlflow.target_group_arn == null
    error_message = "mage and mlflow must not sit behind the public load balancer"
  }

  assert {
    condition     = module.api.target_group_arn != null
    error_message = "the API must sit behind the load balancer"
  }

  assert {
    condition     = module.api.target_group_health_check_path == "/readyz"
    error_message = "the load balancer must route only to API tasks that are ready (model loaded, database answering)"
  }

  assert {
    condition     = aws_lb.api.enable_deletion_protection == var.db.deletion_protection
    error_message = "the load balancer is protected exactly when the databases are"
  }

  assert {
    condition     = length(aws_lb_listener.https) == 1 && length(aws_lb_listener.http_redirect) == 1 && length(aws_lb_listener.http) == 0
    error_message = "with a certificate, the ALB must serve HTTPS and only redirect HTTP"
  }

  assert {
    condition     = aws_lb_listener.https[0].ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "HTTPS must use a TLS 1.2+ policy"
  }

  assert {
    condition     = output.api_url == "https://api.aircast.example"
    error_message = "api_url must use the API host over HTTPS"
  }

  assert {
    condition     = module.api.autoscaling_bounds.min >= 1 && module.api.autoscaling_bounds.min <= module.api.autoscaling_bounds.max
    error_message = "API autoscaling bounds must satisfy 1 <= min <= max"
  }

  assert {
    condition = alltrue([
      for s in [module.api, module.mlflow, module.mage] : s.log_retention_days == var.log_retention_days
    ])
    error_message = "every service log group must have the environment's retention"
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

run "http_only_without_a_certificate" {
  command = plan

  variables {
    require_https       = false
    api_certificate_arn = ""
    api_host            = ""
  }

  assert {
    condition     = length(aws_lb_listener.http) == 1 && length(aws_lb_listener.https) == 0 && length(aws_lb_listener.http_redirect) == 0
    error_message = "without a certificate the API is served over plain HTTP only"
  }

  assert {
    condition     = startswith(output.api_url, "http://") && strcontains(output.api_url, "elb.amazonaws.com")
    error_message = "without api_host the URL is the load balancer's DNS name"
  }
}
