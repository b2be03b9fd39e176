# dev: the same configuration as prod, smaller and disposable.
environment        = "dev"
app_env            = "staging"
vpc_cidr           = "10.40.0.0/16"
single_nat_gateway = true
log_retention_days = 30

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

# HTTPS is optional in dev: set api_certificate_arn to serve it.
require_https               = false
api_certificate_arn         = ""
secret_recovery_window_days = 7
