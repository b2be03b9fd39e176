# The whole aircast stack of one environment. envs/<name> are thin roots over this module: they
# set what must differ (sizes, protection, retention) and pass the repository secrets through.

variable "environment" {
  description = "Environment name (dev, prod); part of every resource name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lower-case letters, digits or dashes."
  }
}

variable "project_prefix" {
  description = "Prefix of every resource name (repository secret TF_VAR_PROJECT_PREFIX)."
  type        = string
  default     = "aircast"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project_prefix))
    error_message = "project_prefix must be 2-21 lower-case letters, digits or dashes."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the environment's VPC."
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (dev) instead of one per AZ (prod)."
  type        = bool
  default     = false
  nullable    = false
}

variable "app_env" {
  description = "AIRCAST_ENV of the API: staging or production (both require API keys)."
  type        = string
  default     = "production"
  nullable    = false

  validation {
    condition     = contains(["staging", "production"], var.app_env)
    error_message = "app_env must be staging or production."
  }
}

variable "log_retention_days" {
  description = "Retention of the services' and VPC flow log groups, in days."
  type        = number
  default     = 365
  nullable    = false
}

variable "db" {
  description = "Sizing and protection of both RDS instances (deletion_protection also protects the ALB)."
  type = object({
    instance_class          = optional(string, "db.t4g.medium")
    allocated_storage       = optional(number, 20)
    max_allocated_storage   = optional(number, 100)
    multi_az                = optional(bool, true)
    backup_retention_period = optional(number, 14)
    deletion_protection     = optional(bool, true)
    final_snapshot          = optional(bool, true)
    performance_insights    = optional(bool, true)
  })
  default  = {}
  nullable = false
}

variable "image_tag" {
  description = "Image tag Terraform puts in the first task definitions; deploy.yml registers SHA-tagged revisions afterwards."
  type        = string
  default     = "bootstrap"
  nullable    = false
}

variable "services" {
  description = "CPU/memory per service and the API's autoscaling bounds."
  type = object({
    api_cpu          = optional(number, 512)
    api_memory       = optional(number, 1024)
    api_min_tasks    = optional(number, 2)
    api_max_tasks    = optional(number, 6)
    mlflow_cpu       = optional(number, 512)
    mlflow_memory    = optional(number, 1024)
    mlflow_workers   = optional(number, 2)
    mage_cpu         = optional(number, 1024)
    mage_memory      = optional(number, 4096)
    api_poll_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false
}

variable "api_certificate_arn" {
  description = "ACM certificate for the API's HTTPS listener; empty = HTTP only (refused when require_https)."
  type        = string
  default     = ""
  nullable    = false
}

variable "require_https" {
  description = "Refuse to plan without api_certificate_arn (prod)."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = !var.require_https || var.api_certificate_arn != ""
    error_message = "require_https is on: set api_certificate_arn to the ACM certificate of the API's host name."
  }
}

variable "api_host" {
  description = "Public host name of the API (DNS points it at the ALB); when set, the ALB forwards only that Host. Empty = any Host."
  type        = string
  default     = ""
  nullable    = false
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the API's load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false
}

variable "mlflow_host" {
  description = "Host name the services use to reach MLflow; empty = its Cloud Map name mlflow.<namespace>."
  type        = string
  default     = ""
  nullable    = false
}

variable "aircast_db" {
  description = "Where the aircast database is; empty strings = this stack's Mage RDS instance, port 5432, database aircast, reader aircast_reader."
  type = object({
    host            = optional(string, "")
    port            = optional(string, "")
    name            = optional(string, "")
    reader_username = optional(string, "")
  })
  default  = {}
  nullable = false
}

variable "mage_admin_email" {
  description = "Login of Mage's owner account; its password is generated into Secrets Manager."
  type        = string
  default     = "admin@aircast.internal"
  nullable    = false
}

variable "credentials" {
  description = <<-EOT
    Credentials the services use, from the repository secrets. Ephemeral: they reach Secrets
    Manager through write-only arguments only, never state or plan. The database logins are the
    services' own roles (created once from the RDS-managed master login), not the master user.
  EOT
  type = object({
    mage_db_username             = string # Mage writes the aircast database as this role
    mage_db_password             = string
    mlflow_db_username           = string # MLflow owns the mlflow database as this role
    mlflow_db_password           = string
    reader_db_password           = string # the API's read-only role (aircast_db.reader_username)
    mage_database_connection_url = string # SQLAlchemy URL of Mage's metadata database
    openaq_api_key               = string
    api_keys                     = string # SHA-256 digests of the accepted API keys
  })
  nullable  = false
  sensitive = true
  ephemeral = true
}

variable "secret_versions" {
  description = "Bump an entry to push a changed credential (write-only values are not diffed by Terraform)."
  type = object({
    openaq_api_key               = optional(number, 1)
    api_keys                     = optional(number, 1)
    aircast_database_url         = optional(number, 1)
    aircast_database_reader_url  = optional(number, 1)
    mlflow_backend_store_uri     = optional(number, 1)
    mage_database_connection_url = optional(number, 1)
  })
  default  = {}
  nullable = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret stays restorable."
  type        = number
  default     = 30
  nullable    = false
}
