mock_provider "aws" {}

variables {
  name_prefix = "aircast/test"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  secrets = {
    openaq_api_key = { description = "OpenAQ key", value_version = 1 }
    operator_set   = { description = "put by an operator" }
  }
  secret_values = {
    openaq_api_key = "test-only-value"
  }
}

run "secrets_with_key_and_recovery_window" {
  command = plan

  assert {
    condition     = aws_secretsmanager_secret.this["openaq_api_key"].name == "aircast/test/openaq_api_key"
    error_message = "secrets are named <prefix>/<key>"
  }

  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.this : s.kms_key_id == var.kms_key_arn && s.recovery_window_in_days == 30])
    error_message = "every secret uses the given KMS key and the recovery window"
  }

  assert {
    condition     = toset(keys(aws_secretsmanager_secret_version.this)) == toset(["openaq_api_key"])
    error_message = "a value is written only for secrets with a value_version"
  }

  assert {
    condition     = aws_secretsmanager_secret_version.this["openaq_api_key"].secret_string == null
    error_message = "values must go through the write-only secret_string_wo, never secret_string"
  }

  assert {
    condition     = aws_secretsmanager_secret_version.this["openaq_api_key"].secret_string_wo_version == 1
    error_message = "the write-only value is versioned so a bump rewrites it"
  }
}

run "outputs_are_identifiers_only" {
  assert {
    condition     = toset(keys(output.arns)) == toset(["openaq_api_key", "operator_set"])
    error_message = "arns output must hold one ARN per secret"
  }

  assert {
    condition     = toset(keys(output.names)) == toset(["openaq_api_key", "operator_set"])
    error_message = "names output must hold one name per secret"
  }
}

run "short_recovery_window_is_refused" {
  command = plan

  variables {
    recovery_window_in_days = 3
  }

  expect_failures = [var.recovery_window_in_days]
}
