# The composition's outputs operators and terraform.yml read (descriptions in modules/aircast).

output "cluster_name" {
  description = "ECS cluster (repository secret ECS_CLUSTER)."
  value       = module.aircast.cluster_name
}

output "ecr_repositories" {
  description = "ECR repository names by component."
  value       = module.aircast.ecr_repositories
}

output "ecs_services" {
  description = "ECS service names by component."
  value       = module.aircast.ecs_services
}

output "ecs_task_definitions" {
  description = "Task definition families by component."
  value       = module.aircast.ecs_task_definitions
}

output "api_url" {
  description = "Public URL of the API."
  value       = module.aircast.api_url
}

output "mlflow_tracking_uri" {
  description = "Internal MLflow URL."
  value       = module.aircast.mlflow_tracking_uri
}

output "artifact_bucket" {
  description = "S3 bucket of the MLflow artifacts."
  value       = module.aircast.artifact_bucket
}

output "secret_names" {
  description = "Secrets Manager names by key."
  value       = module.aircast.secret_names
}

output "database_endpoints" {
  description = "Private endpoints of the two RDS instances."
  value       = module.aircast.database_endpoints
}

output "database_master_secrets" {
  description = "RDS-managed master password secrets."
  value       = module.aircast.database_master_secrets
}

output "mage_admin_password_secret" {
  description = "Secret holding Mage's owner password."
  value       = module.aircast.mage_admin_password_secret
}
