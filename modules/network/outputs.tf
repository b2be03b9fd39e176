output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (ALB, NAT gateways), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets (ECS tasks, RDS), one per AZ."
  value       = aws_subnet.private[*].id
}

output "availability_zones" {
  description = "AZs the subnets are spread over."
  value       = local.azs
}

output "vpc_endpoint_services" {
  description = "Service names of the VPC endpoints, by short name."
  value = merge(
    { s3 = aws_vpc_endpoint.s3.service_name },
    { for k, e in aws_vpc_endpoint.interface : k => e.service_name },
  )
}
