# Two kinds of inputs. Lower-case variables are settings that differ between environments and
# live in terraform.tfvars. UPPER-CASE variables are fed by the repository secrets of the same
# name (TF_VAR_<NAME>), so the README's secret table maps one-to-one onto them. Every credential
# is `ephemeral`: it reaches AWS only through write-only arguments and never enters state or plan.

variable "environment" {
  description = "Environment name (dev, prod); part of every resource name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lower-case letters, digits or dashes."
  }
}

variable "aws_region" {
  description = "AWS region (the AWS_REGION repository variable)."
  type        = string
  nullable    = false
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
  description = "Sizing and protection of both RDS instances."
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

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the API's load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false
}

variable "mage_admin_email" {
  description = "Login of Mage's owner account; its password is generated into Secrets Manager."
  type        = string
  default     = "admin@aircast.internal"
  nullable    = false
}

variable "secret_versions" {
  description = "Bump an entry to push a changed credential (write-only values are not diffed by Terraform)."
  type = object({
    mlflow_rds_password          = optional(number, 1)
    mage_rds_password            = optional(number, 1)
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

# --- Fed by repository secrets (TF_VAR_<NAME>) ---------------------------------------------------

variable "PROJECT_PREFIX" {
  description = "Prefix of every resource name (secret TF_VAR_PROJECT_PREFIX)."
  type        = string
  default     = "aircast"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.PROJECT_PREFIX))
    error_message = "PROJECT_PREFIX must be 2-21 lower-case letters, digits or dashes."
  }
}

variable "API_HOST" {
  description = "Public host name of the API (DNS points it at the ALB); when set, the ALB forwards only that Host. Empty = any Host."
  type        = string
  default     = ""
  nullable    = false
}

variable "MLFLOW_HOST" {
  description = "Host name the services use to reach MLflow; empty = its Cloud Map name mlflow.<namespace>."
  type        = string
  default     = ""
  nullable    = false
}

variable "MAGEDB_HOST" {
  description = "Host of the aircast database; empty = the Mage RDS instance of this stack."
  type        = string
  default     = ""
  nullable    = false
}

variable "MAGEDB_PORT" {
  description = "Port of the aircast database; empty = 5432."
  type        = string
  default     = ""
  nullable    = false
}

variable "MAGEDB_NAME" {
  description = "Name of the aircast database (created on the Mage RDS instance)."
  type        = string
  default     = "aircast"
  nullable    = false
}

variable "MAGEDB_USER" {
  description = "Read-only login the API uses on the aircast database (the migrations grant it SELECT)."
  type        = string
  default     = "aircast_reader"
  nullable    = false
}

variable "MAGEDB_PASSWORD" {
  description = "Password of MAGEDB_USER."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "MAGE_RDS_USERNAME" {
  description = "Master user of the Mage/aircast RDS instance (the Mage pipelines write with it)."
  type        = string
  nullable    = false
}

variable "MAGE_RDS_PASSWORD" {
  description = "Master password of the Mage/aircast RDS instance."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "MAGE_DATABASE_CONNECTION_URL" {
  description = "SQLAlchemy URL of Mage's metadata database (postgresql+psycopg2://...?sslmode=require)."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "MLFLOW_RDS_USERNAME" {
  description = "Master user of the MLflow RDS instance."
  type        = string
  nullable    = false
}

variable "MLFLOW_RDS_PASSWORD" {
  description = "Master password of the MLflow RDS instance."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "OPENAQ_API_KEY" {
  description = "OpenAQ v3 API key used by the ingest pipeline."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "AIRCAST_API_KEYS" {
  description = "Comma-separated SHA-256 hex digests of the accepted X-API-Key values (never the keys themselves)."
  type        = string
  sensitive   = true
  ephemeral   = true
}
