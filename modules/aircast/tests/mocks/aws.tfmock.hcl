# Fixed, valid mock values for what the assertions read at plan time (override_during = plan in
# the test files) and what the provider validates (ARN formats).

mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012" }
}

mock_data "aws_partition" {
  defaults = { partition = "aws" }
}

mock_data "aws_region" {
  defaults = { name = "eu-west-1" }
}

mock_data "aws_availability_zones" {
  defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
}

mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/some-other-role" }
}

mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
}

mock_resource "aws_ecs_cluster" {
  defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/aircast" }
}

mock_resource "aws_ecr_repository" {
  defaults = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/aircast/component" }
}

mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::aircast-artifacts-123456789012" }
}

mock_resource "aws_lb_listener" {
  defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/aircast-api/0/0" }
}

mock_resource "aws_lb_target_group" {
  defaults = { arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/aircast-api/0" }
}

mock_resource "aws_db_instance" {
  defaults = { address = "db.internal.example", port = 5432 }
}

mock_resource "aws_service_discovery_private_dns_namespace" {
  defaults = { name = "aircast.internal" }
}

mock_resource "aws_lb" {
  defaults = {
    arn      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/aircast-api/0"
    dns_name = "aircast-api-0.eu-west-1.elb.amazonaws.com"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:aircast/mock-000000" }
}
