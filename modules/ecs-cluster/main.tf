resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 1
    weight            = 1
  }

  dynamic "default_capacity_provider_strategy" {
    for_each = var.fargate_spot_weight > 0 ? [var.fargate_spot_weight] : []
    content {
      capacity_provider = "FARGATE_SPOT"
      weight            = default_capacity_provider_strategy.value
    }
  }
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.namespace
  description = "Internal names of the ${var.name} services"
  vpc         = var.vpc_id
  tags        = var.tags
}
