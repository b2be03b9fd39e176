mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
}

variables {
  name = "aircast-test"
}

run "subnets_span_two_zones_with_endpoints" {
  command = plan

  assert {
    condition     = length(aws_subnet.private) == 2 && length(distinct(aws_subnet.private[*].availability_zone)) == 2
    error_message = "private subnets must span two availability zones"
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && alltrue([for s in aws_subnet.public : !s.map_public_ip_on_launch])
    error_message = "public subnets must not hand out public IPs implicitly"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 2
    error_message = "one NAT gateway per AZ by default"
  }

  assert {
    condition = toset(values(output.vpc_endpoint_services)) == toset([
      "com.amazonaws.eu-west-1.s3", "com.amazonaws.eu-west-1.ecr.api", "com.amazonaws.eu-west-1.ecr.dkr",
      "com.amazonaws.eu-west-1.secretsmanager", "com.amazonaws.eu-west-1.logs",
    ])
    error_message = "VPC endpoints for S3, ECR, Secrets Manager and CloudWatch Logs are required"
  }

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled])
    error_message = "interface endpoints need private DNS so SDKs use them transparently"
  }
}

run "single_nat_gateway" {
  command = plan

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1
    error_message = "single_nat_gateway must create exactly one NAT gateway"
  }
}

run "one_zone_is_refused" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
}
