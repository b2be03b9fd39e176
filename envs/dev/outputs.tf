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
  value       = "${local.https ? "https" : "http"}://${var.API_HOST != "" ? var.API_HOST : aws_lb.api.dns_name}"
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

output "mage_admin_password_secret" {
  description = "Secret holding Mage's owner password (filled by terraform.yml when empty)."
  value       = module.secrets.names["mage_admin_password"]
}
