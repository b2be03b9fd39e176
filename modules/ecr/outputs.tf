output "repository_urls" {
  description = "Repository URLs by short name."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_names" {
  description = "Repository names by short name (the *_ECR_REPOSITORY repository secrets)."
  value       = { for k, r in aws_ecr_repository.this : k => r.name }
}

output "repository_arns" {
  description = "Repository ARNs by short name."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}
