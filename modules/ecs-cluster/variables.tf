variable "name" {
  description = "Name of the ECS cluster (e.g. aircast-dev)."
  type        = string
  nullable    = false
}

variable "vpc_id" {
  description = "VPC of the private DNS namespace the services register in."
  type        = string
  nullable    = false
}

variable "namespace" {
  description = "Private DNS namespace for service discovery; services are reachable as <service>.<namespace>."
  type        = string
  default     = "aircast.internal"
  nullable    = false
}

variable "fargate_spot_weight" {
  description = "Share of tasks placed on FARGATE_SPOT relative to FARGATE (0 = on-demand only)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.fargate_spot_weight >= 0
    error_message = "fargate_spot_weight must be zero or positive."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
