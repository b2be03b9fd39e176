variable "name_prefix" {
  description = "Repository names are <prefix>/<name> (e.g. aircast-dev/api)."
  type        = string
  nullable    = false
}

variable "repositories" {
  description = "Short names of the image repositories (one per component image)."
  type        = set(string)
  nullable    = false
}

variable "keep_images" {
  description = "Number of most recent images kept per repository; older ones expire."
  type        = number
  default     = 30
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key for the repositories; null uses AES256."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
