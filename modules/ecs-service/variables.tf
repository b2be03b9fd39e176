variable "name" {
  description = "Service name; also the container name, task family suffix and log stream prefix."
  type        = string
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of IAM roles, log group and task family (e.g. aircast-dev)."
  type        = string
  nullable    = false
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
  nullable    = false
}

variable "image" {
  description = "Container image (repository URL and tag). deploy.yml replaces the tag with the commit SHA."
  type        = string
  nullable    = false
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
  nullable    = false
}

variable "memory" {
  description = "Fargate task memory in MiB."
  type        = number
  default     = 1024
  nullable    = false
}

variable "container_port" {
  description = "TCP port the container listens on."
  type        = number
  nullable    = false
}

variable "command" {
  description = "Overrides the image's CMD; null keeps it."
  type        = list(string)
  default     = null
}

variable "environment" {
  description = "Plain environment variables. Credentials are refused here: pass them in `secrets`."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition = alltrue([
      for k in keys(var.environment) :
      length(regexall("(?i)(PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL|DATABASE_URL|CONNECTION_URL|STORE_URI|READER_URL)", k)) == 0
    ])
    error_message = "environment holds a credential-like name; pass it through `secrets` (a Secrets Manager ARN) instead."
  }

  validation {
    # A URL with user:password@ is a credential whatever its variable is called.
    condition     = alltrue([for v in values(var.environment) : length(regexall("://[^/@\\s]+:[^/@\\s]+@", v)) == 0])
    error_message = "an environment value embeds user:password@ credentials; store it in Secrets Manager and pass it in `secrets`."
  }
}

variable "secrets" {
  description = "Environment variables filled by ECS from Secrets Manager at task start: name => secret ARN (optionally ARN:json-key::)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:secretsmanager:", v))])
    error_message = "every value of secrets must be a Secrets Manager secret ARN."
  }
}

variable "kms_key_arns" {
  description = "KMS keys the execution role may decrypt with (the keys of the secrets, if customer-managed)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "task_role_policies" {
  description = "Inline IAM policies (JSON) of the task role by a static name: what the application itself may call. {} = no AWS permissions."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "readonly_root_filesystem" {
  description = "Mount the container's root filesystem read-only (writable paths must be volumes)."
  type        = bool
  default     = true
  nullable    = false
}

variable "health_check" {
  description = "Container health check run by ECS; null disables it."
  type = object({
    command      = list(string)
    interval     = optional(number, 30)
    timeout      = optional(number, 5)
    retries      = optional(number, 3)
    start_period = optional(number, 60)
  })
  default = null
}

variable "vpc_id" {
  description = "VPC of the service (security group and target group)."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in. Tasks never get a public IP."
  type        = list(string)
  nullable    = false
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach container_port, by a static name (static keys keep for_each plannable)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "egress_rules" {
  description = "Outbound rules by name. The default allows HTTPS anywhere (ECR, Secrets Manager, S3, external APIs)."
  type = map(object({
    port        = number
    cidr_ipv4   = string
    description = string
  }))
  default = {
    https = { port = 443, cidr_ipv4 = "0.0.0.0/0", description = "HTTPS to AWS APIs and external services" }
  }
  nullable = false
}

variable "desired_count" {
  description = "Number of tasks when autoscaling is off; the initial count when it is on."
  type        = number
  default     = 1
  nullable    = false
}

variable "load_balancer" {
  description = "Attach the service to an ALB: a target group is created and a listener rule forwards to it. null = no load balancer."
  type = object({
    listener_arn      = string
    priority          = optional(number, 100)
    host_headers      = optional(list(string), [])
    path_patterns     = optional(list(string), ["/*"])
    health_check_path = optional(string, "/healthz")
  })
  default = null
}

variable "service_discovery" {
  description = "Register the service in this Cloud Map private DNS namespace (reachable as <name>.<namespace>); null = none."
  type = object({
    namespace_id = string
  })
  default = null
}

variable "autoscaling" {
  description = "Target-tracking autoscaling on CPU (and memory if set); null = fixed desired_count."
  type = object({
    min_capacity       = number
    max_capacity       = number
    cpu_target         = optional(number, 60)
    memory_target      = optional(number)
    scale_in_cooldown  = optional(number, 300)
    scale_out_cooldown = optional(number, 60)
  })
  default = null

  validation {
    condition = var.autoscaling == null ? true : (
      var.autoscaling.min_capacity >= 1 && var.autoscaling.min_capacity <= var.autoscaling.max_capacity
    )
    error_message = "autoscaling needs 1 <= min_capacity <= max_capacity."
  }
}

variable "log_retention_days" {
  description = "Retention of the service's CloudWatch log group, in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log group; null keeps CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "enable_execute_command" {
  description = "Allow `aws ecs execute-command` (operators reach the private Mage UI through it)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
