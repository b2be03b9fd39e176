resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:values come from CI secrets through write-only arguments; rotation is the runbook in docs/infrastructure.md (RDS-managed master passwords rotate themselves).
  #checkov:skip=CKV_AWS_149:a customer-managed key is opt-in through var.kms_key_arn; the envs pass the project key.
  for_each = var.secrets

  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "this" {
  for_each = { for k, v in var.secrets : k => v if v.value_version != null }

  secret_id = aws_secretsmanager_secret.this[each.key].id
  # Write-only: the value goes to Secrets Manager and nowhere into the state or plan.
  secret_string_wo         = var.secret_values[each.key]
  secret_string_wo_version = each.value.value_version
}
