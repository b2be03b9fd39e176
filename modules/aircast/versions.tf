terraform {
  # 1.11: write-only arguments (password_wo, secret_string_wo) keep credentials out of state.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0"
    }
  }
}
