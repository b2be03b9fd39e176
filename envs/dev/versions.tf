terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }

  # bucket, key and region come from `terraform init -backend-config=...` (terraform.yml reads
  # them from the TF_BACKEND_* secrets). S3-native locking: no DynamoDB table.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
