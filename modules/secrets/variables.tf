variable "name_prefix" {
  description = "Path prefix of every secret name (e.g. aircast/dev); secrets are named <prefix>/<key>."
  type        = string
  nullable    = false
}

variable "secrets" {
  description = <<-EOT
    Secrets to create, by a static key. `value_version` set: Terraform writes the value from
    `secret_values[key]` (write-only, never in state) and rewrites it when the number grows.
    `value_version` null: Terraform creates the empty secret and operators put the value.
  EOT
  type = map(object({
    description   = string
    value_version = optional(number)
  }))
  nullable = false
}

variable "secret_values" {
  description = "Values for the secrets that have a value_version, by key. Ephemeral: they reach AWS through secret_string_wo only."
  type        = map(string)
  default     = {}
  sensitive   = true
  ephemeral   = true
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the secrets; null uses the AWS-managed aws/secretsmanager key."
  type        = string
  default     = null
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once, 7-30 otherwise)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
