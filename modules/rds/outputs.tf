output "address" {
  description = "Hostname of the instance (resolves to private IPs only)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the instance."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Name of the database created with the instance."
  value       = aws_db_instance.this.db_name
}

output "instance_arn" {
  description = "ARN of the instance."
  value       = aws_db_instance.this.arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed master password secret; null when the caller supplies the password."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "publicly_accessible" {
  description = "Whether the instance has a public endpoint (always false)."
  value       = aws_db_instance.this.publicly_accessible
}

output "storage_encrypted" {
  description = "Whether storage is encrypted (always true)."
  value       = aws_db_instance.this.storage_encrypted
}

output "kms_key_arn" {
  description = "KMS key requested for storage encryption (null = AWS-managed RDS key)."
  value       = var.kms_key_arn
}

output "force_ssl" {
  description = "Whether the parameter group refuses non-TLS connections."
  value       = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"])
}

output "master_password_write_only" {
  description = "True when a supplied master password is sent through the write-only password_wo."
  value       = !var.manage_master_user_password && aws_db_instance.this.password_wo_version != null
}

output "protection" {
  description = "Deletion protection, final snapshot, Multi-AZ and backup retention as applied."
  value = {
    deletion_protection     = aws_db_instance.this.deletion_protection
    final_snapshot          = !aws_db_instance.this.skip_final_snapshot
    multi_az                = aws_db_instance.this.multi_az
    backup_retention_period = aws_db_instance.this.backup_retention_period
  }
}

output "master_password_managed" {
  description = "True when RDS generates the master password into Secrets Manager and rotates it."
  value       = aws_db_instance.this.manage_master_user_password == true
}
