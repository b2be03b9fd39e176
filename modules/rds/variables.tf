variable "identifier" {
  description = "RDS instance identifier (e.g. aircast-dev-mlflow)."
  type        = string
  nullable    = false
}

variable "engine_version" {
  description = "PostgreSQL major version (the parameter group family follows it)."
  type        = string
  default     = "16"
  nullable    = false
}

variable "instance_class" {
  description = "Instance class (micro and small burstable classes need performance_insights = false)."
  type        = string
  default     = "db.t4g.medium"
  nullable    = false
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
  nullable    = false
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (0 disables autoscaling)."
  type        = number
  default     = 100
  nullable    = false
}

variable "db_name" {
  description = "Name of the database created with the instance."
  type        = string
  nullable    = false
}

variable "username" {
  description = "Master user name."
  type        = string
  nullable    = false
}

variable "manage_master_user_password" {
  description = "RDS generates the master password and keeps it in Secrets Manager (rotated by RDS). Set false only to supply `password`."
  type        = bool
  default     = true
  nullable    = false
}

variable "password" {
  description = "Master password when manage_master_user_password = false. Ephemeral and sent through the write-only password_wo: never stored in state or plan."
  type        = string
  default     = null
  sensitive   = true
  ephemeral   = true
}

variable "password_version" {
  description = "Bump to push a changed `password` (write-only values are not diffed)."
  type        = number
  default     = 1
  nullable    = false
}

variable "vpc_id" {
  description = "VPC of the instance's security group."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets (at least two AZs) of the DB subnet group."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432, by a static name."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "multi_az" {
  description = "Standby replica in a second AZ."
  type        = bool
  default     = true
  nullable    = false
}

variable "backup_retention_period" {
  description = "Days of automated backups (1-35)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "backup_retention_period must be 1-35 days; backups cannot be switched off."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (turn off deliberately before a destroy)."
  type        = bool
  default     = true
  nullable    = false
}

variable "final_snapshot" {
  description = "Take a final snapshot when the instance is deleted."
  type        = bool
  default     = true
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key for storage and Performance Insights; null uses the AWS-managed RDS key (still encrypted)."
  type        = string
  default     = null
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 disables it)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "performance_insights" {
  description = "Performance Insights (not offered on the micro and small burstable classes)."
  type        = bool
  default     = true
  nullable    = false
}

variable "log_min_duration_ms" {
  description = "Log statements slower than this (ms); -1 disables slow-query logging."
  type        = number
  default     = 1000
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
