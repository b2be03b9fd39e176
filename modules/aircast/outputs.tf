output "cluster_name" {
  description = "ECS cluster (repository secret ECS_CLUSTER)."
  value       = module.cluster.cluster_name
}

output "ecr_repositories" {
  description = "ECR repository names by component (secrets MAGE_/MLFLOW_/API_ECR_REPOSITORY)."
  value       = module.ecr.repository_names
}

output "ecs_services" {
  description = "ECS service names by component (secrets *_ECS_SERVICE)."
  value = {
    mage   = module.mage.service_name
    mlflow = module.mlflow.service_name
    api    = module.api.service_name
  }
}

output "ecs_task_definitions" {
  description = "Task definition families by component (secrets *_ECS_TASK_DEFINITION)."
  value = {
    mage   = module.mage.task_definition_family
    mlflow = module.mlflow.task_definition_family
    api    = module.api.task_definition_family
  }
}

output "api_url" {
  description = "Public URL of the API."
  value       = "${local.https ? "https" : "http"}://${var.api_host != "" ? var.api_host : aws_lb.api.dns_name}"
}

output "mlflow_tracking_uri" {
  description = "Internal MLflow URL (resolvable inside the VPC only)."
  value       = local.mlflow_tracking_uri
}

output "artifact_bucket" {
  description = "S3 bucket of the MLflow artifacts."
  value       = module.artifacts.bucket_name
}

output "secret_names" {
  description = "Secrets Manager names by key (for rotation with put-secret-value)."
  value       = module.secrets.names
}

output "database_endpoints" {
  description = "Private endpoints of the two RDS instances."
  value = {
    mlflow = module.mlflow_db.address
    mage   = module.mage_db.address
  }
}

output "database_master_secrets" {
  description = "ARNs of the RDS-managed master password secrets (JSON username/password), for creating the services' roles."
  value = {
    mlflow = module.mlflow_db.master_user_secret_arn
    mage   = module.mage_db.master_user_secret_arn
  }
}

output "mage_admin_password_secret" {
  description = "Secret holding Mage's owner password (filled by terraform.yml when empty)."
  value       = module.secrets.names["mage_admin_password"]
}

# What the environments' own tests check (known at plan time).

output "database_protection" {
  description = "Deletion protection, final snapshot, Multi-AZ and backup retention of each RDS instance."
  value = {
    mlflow = module.mlflow_db.protection
    mage   = module.mage_db.protection
  }
}

output "api_listeners" {
  description = "Protocols the API's load balancer listens with, by listener: https + http redirect, or plain http."
  value = merge(
    { for l in aws_lb_listener.https : "https" => l.protocol },
    { for l in aws_lb_listener.http_redirect : "http_redirect" => l.protocol },
    { for l in aws_lb_listener.http : "http" => l.protocol },
  )
}

output "api_autoscaling_bounds" {
  description = "min/max task count of the API."
  value       = module.api.autoscaling_bounds
}

output "log_retention_days" {
  description = "Retention of each service's log group."
  value = {
    mage   = module.mage.log_retention_days
    mlflow = module.mlflow.log_retention_days
    api    = module.api.log_retention_days
  }
}

output "https_required" {
  description = "Whether planning refuses to go on without a certificate (require_https)."
  value       = var.require_https
}
