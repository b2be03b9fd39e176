output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_family" {
  description = "Family of the task definition (deploy.yml registers new revisions of it)."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "ARN of the task definition revision Terraform created."
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "The container definitions JSON as sent to ECS (holds secret ARNs, never secret values)."
  value       = aws_ecs_task_definition.this.container_definitions
}

output "container_definition" {
  description = "The container definition as an object, known at plan time (for tests and callers)."
  value       = local.container_definition
}

output "task_role_arn" {
  description = "ARN of the task (application) role."
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the task (application) role."
  value       = aws_iam_role.task.name
}

output "execution_role_arn" {
  description = "ARN of the execution role (image pull, logs, secrets)."
  value       = aws_iam_role.execution.arn
}

output "security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "CloudWatch log group of the service."
  value       = aws_cloudwatch_log_group.this.name
}

output "target_group_arn" {
  description = "ARN of the ALB target group; null without a load balancer."
  value       = one(aws_lb_target_group.this[*].arn)
}

output "task_role_policies" {
  description = "Inline policies (JSON) of the task role by name ({} = the task may call no AWS API)."
  value       = var.task_role_policies
}

output "autoscaling_bounds" {
  description = "min/max task count of target-tracking autoscaling; null when off."
  value       = var.autoscaling == null ? null : { min = var.autoscaling.min_capacity, max = var.autoscaling.max_capacity }
}

output "log_retention_days" {
  description = "Retention of the service's log group."
  value       = aws_cloudwatch_log_group.this.retention_in_days
}

output "target_group_health_check_path" {
  description = "Path the load balancer health-checks the tasks on; null without a load balancer."
  value       = one(aws_lb_target_group.this[*].health_check[0].path)
}
