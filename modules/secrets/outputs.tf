output "arns" {
  description = "Secret ARNs by key (the values never leave Secrets Manager)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "names" {
  description = "Secret names by key (for `aws secretsmanager put-secret-value`)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}
