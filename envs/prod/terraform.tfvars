# prod: the same configuration as dev; protected, redundant, HTTPS only.
environment        = "prod"
app_env            = "production"
vpc_cidr           = "10.41.0.0/16"
single_nat_gateway = false
log_retention_days = 365

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

# Required: the ACM certificate (same region) of the API's host name (TF_VAR_API_HOST).
# Planning prod fails with a clear message until it is set.
require_https               = true
api_certificate_arn         = ""
secret_recovery_window_days = 30
