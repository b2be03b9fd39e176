# envs/dev: the aircast stack (modules/aircast) with what makes it dev.
module "aircast" {
  source = "../../modules/aircast"

  # dev: the same stack as prod, smaller and disposable; HTTP allowed without a certificate.
  environment                 = "dev"
  app_env                     = "staging"
  vpc_cidr                    = "10.40.0.0/16"
  single_nat_gateway          = true
  log_retention_days          = 30
  secret_recovery_window_days = 7
  require_https               = false
  db = {
    instance_class          = "db.t4g.micro"
    multi_az                = false
    backup_retention_period = 3
    deletion_protection     = false
    final_snapshot          = false
    performance_insights    = false # not offered on db.t4g.micro
  }
  services = {
    api_min_tasks = 1
    api_max_tasks = 2
    mage_memory   = 2048
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
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}
