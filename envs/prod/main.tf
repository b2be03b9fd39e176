# envs/prod: the aircast stack (modules/aircast) with what makes it prod.
module "aircast" {
  source = "../../modules/aircast"

  # prod: protected, redundant, HTTPS only (planning fails until api_certificate_arn is set).
  environment                 = "prod"
  app_env                     = "production"
  vpc_cidr                    = "10.41.0.0/16"
  single_nat_gateway          = false
  log_retention_days          = 365
  secret_recovery_window_days = 30
  require_https               = true
  db = {
    instance_class          = "db.t4g.medium" # smallest class with Performance Insights
    multi_az                = true
    backup_retention_period = 14
    deletion_protection     = true
    final_snapshot          = true
  }
  services = {
    api_min_tasks = 2
    api_max_tasks = 6
  }

  # Operator settings (terraform.tfvars).
  api_certificate_arn = var.api_certificate_arn
  secret_versions     = var.secret_versions

  # Repository secrets (TF_VAR_*).
  project_prefix = var.PROJECT_PREFIX
  api_host       = var.API_HOST
  mlflow_host    = var.MLFLOW_HOST
  aircast_db = {
    host            = var.MAGEDB_HOST
    port            = var.MAGEDB_PORT
    name            = var.MAGEDB_NAME
    reader_username = var.MAGEDB_USER
  }
  credentials = {
    mage_db_username             = var.MAGE_RDS_USERNAME
    mage_db_password             = var.MAGE_RDS_PASSWORD
    mlflow_db_username           = var.MLFLOW_RDS_USERNAME
    mlflow_db_password           = var.MLFLOW_RDS_PASSWORD
    reader_db_password           = var.MAGEDB_PASSWORD
    mage_database_connection_url = var.MAGE_DATABASE_CONNECTION_URL
    openaq_api_key               = var.OPENAQ_API_KEY
    api_keys                     = var.AIRCAST_API_KEYS
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = var.PROJECT_PREFIX
      Environment = "prod"
      ManagedBy   = "terraform"
    }
  }
}
