mock_provider "aws" {}

variables {
  name   = "aircast-test"
  vpc_id = "vpc-0123456789abcdef0"
}

run "insights_and_namespace" {
  command = plan

  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "enabled"
    error_message = "Container Insights must be enabled"
  }

  assert {
    condition     = aws_service_discovery_private_dns_namespace.this.name == "aircast.internal"
    error_message = "services resolve under the private aircast.internal namespace by default"
  }

  assert {
    condition     = length(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy) == 1
    error_message = "on-demand Fargate only unless fargate_spot_weight is set"
  }
}
