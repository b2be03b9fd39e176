variable "name" {
  description = "Name prefix for every network resource (e.g. aircast-dev)."
  type        = string
  nullable    = false
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; public and private subnets are carved from it."
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrnetmask(var.cidr_block))
    error_message = "cidr_block must be an IPv4 CIDR such as 10.40.0.0/16."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread the subnets over (at least 2 for RDS and the ALB)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all private subnets (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = false
  nullable    = false
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group; null keeps CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
