# Inputs from outside the repository. UPPER-CASE variables are fed by the repository secrets of
# the same name (TF_VAR_<NAME>): the README's secret table maps one-to-one onto them, and a
# secret that is not set arrives as "" (the optional ones fall back to this stack's resources).
# Credentials are `ephemeral`: they reach AWS through write-only arguments, never state or plan.
# Defaults and validation live in modules/aircast.

variable "aws_region" {
  description = "AWS region (the AWS_REGION repository variable)."
  type        = string
  nullable    = false
}

variable "api_certificate_arn" {
  description = "ACM certificate of the API's host name (terraform.tfvars); empty = HTTP only."
  type        = string
  default     = ""
  nullable    = false
}

variable "secret_versions" {
  description = "Bump an entry (terraform.tfvars) to push a changed credential; keys as in modules/aircast."
  type        = map(number)
  default     = {}
  nullable    = false
}

variable "PROJECT_PREFIX" {
  description = "Prefix of every resource name."
  type        = string
  default     = "aircast"
  nullable    = false
}

variable "API_HOST" {
  description = "Public host name of the API; empty = any Host."
  type        = string
  default     = ""
  nullable    = false
}

variable "MLFLOW_HOST" {
  description = "Host the services use for MLflow; empty = its Cloud Map name."
  type        = string
  default     = ""
  nullable    = false
}

variable "MAGEDB_HOST" {
  description = "Host of the aircast database; empty = the Mage RDS instance."
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
  description = "Name of the aircast database; empty = aircast."
  type        = string
  default     = "aircast"
  nullable    = false
}

variable "MAGEDB_USER" {
  description = "Read-only role of the API on the aircast database; empty = aircast_reader."
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
  description = "Role Mage writes the aircast database with (not the master user: RDS manages that one)."
  type        = string
  nullable    = false
}

variable "MAGE_RDS_PASSWORD" {
  description = "Password of MAGE_RDS_USERNAME."
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
  description = "Role MLflow owns the mlflow database with (not the master user: RDS manages that one)."
  type        = string
  nullable    = false
}

variable "MLFLOW_RDS_PASSWORD" {
  description = "Password of MLFLOW_RDS_USERNAME."
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
