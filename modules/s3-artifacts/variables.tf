variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
  nullable    = false
}

variable "access_role_arns" {
  description = "IAM roles that may read and write objects, by a static name. No other principal may touch objects."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for v in values(var.access_role_arns) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", v))])
    error_message = "access_role_arns values must be IAM role ARNs."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Delete object versions this many days after they stop being current."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS; null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it (never in prod)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
