mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
}

variables {
  name           = "api"
  name_prefix    = "aircast-test"
  cluster_arn    = "arn:aws:ecs:eu-west-1:123456789012:cluster/aircast-test"
  image          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/aircast-test/api:abc123"
  container_port = 8000
  vpc_id         = "vpc-0123456789abcdef0"
  subnet_ids     = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  environment    = { AIRCAST_MODEL_POLL_SECONDS = "60" }
  secrets = {
    AIRCAST_API_KEYS            = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/test/api_keys-AbCdEf"
    AIRCAST_DATABASE_READER_URL = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/test/reader-GhIjKl:url::"
  }
  load_balancer = {
    listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/aircast-test/0/0"
  }
  autoscaling        = { min_capacity = 2, max_capacity = 5 }
  log_retention_days = 90
}

run "task_and_service" {
  command = plan

  assert {
    condition = [for s in jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets : s.valueFrom] == [
      var.secrets["AIRCAST_API_KEYS"], var.secrets["AIRCAST_DATABASE_READER_URL"],
    ]
    error_message = "container secrets must be the given Secrets Manager references"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.execution_secrets[0].policy).Statement[0].Resource == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/test/api_keys-AbCdEf", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/test/reader-GhIjKl"]
    error_message = "the execution role may read exactly the container's secrets (JSON-key suffix stripped)"
  }

  assert {
    condition     = aws_ecs_task_definition.this.requires_compatibilities == toset(["FARGATE"]) && aws_ecs_task_definition.this.network_mode == "awsvpc"
    error_message = "Fargate task definition"
  }

  assert {
    condition     = aws_ecs_service.this.deployment_circuit_breaker[0].enable && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "the deployment circuit breaker must roll back failed deployments"
  }

  assert {
    condition     = !aws_ecs_service.this.network_configuration[0].assign_public_ip
    error_message = "tasks never get a public IP"
  }

  assert {
    condition     = aws_cloudwatch_log_group.this.retention_in_days == 90
    error_message = "the log group must have the given retention"
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 2 && aws_appautoscaling_target.this[0].max_capacity == 5
    error_message = "autoscaling bounds must be the given ones"
  }

  assert {
    condition     = aws_appautoscaling_policy.cpu[0].policy_type == "TargetTrackingScaling"
    error_message = "autoscaling must track a target"
  }

  assert {
    condition     = aws_lb_target_group.this[0].health_check[0].path == "/healthz" && aws_lb_target_group.this[0].target_type == "ip"
    error_message = "the target group must health-check /healthz on task IPs"
  }

  assert {
    condition     = length(aws_iam_role_policy.task) == 0
    error_message = "without a caller policy the task role has no permissions"
  }
}

run "credential_names_are_refused_in_environment" {
  command = plan

  variables {
    environment = { AIRCAST_DATABASE_URL = "postgresql://db/aircast" }
  }

  expect_failures = [var.environment]
}

run "credential_urls_are_refused_in_environment" {
  command = plan

  variables {
    environment = { MLFLOW_TRACKING_URI = "http://user:hunter2@mlflow:5000" }
  }

  expect_failures = [var.environment]
}

run "secrets_must_be_secrets_manager_arns" {
  command = plan

  variables {
    secrets = { AIRCAST_API_KEYS = "plaintext-value" }
  }

  expect_failures = [var.secrets]
}

run "autoscaling_bounds_are_checked" {
  command = plan

  variables {
    autoscaling = { min_capacity = 4, max_capacity = 2 }
  }

  expect_failures = [var.autoscaling]
}
