mock_provider "aws" {}

variables {
  name_prefix  = "aircast-test"
  repositories = ["mage", "mlflow", "api"]
}

run "immutable_scanned_repositories" {
  command = plan

  assert {
    condition     = toset(keys(aws_ecr_repository.this)) == toset(["mage", "mlflow", "api"])
    error_message = "one repository per component image"
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE"])
    error_message = "tags must be immutable"
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_scanning_configuration[0].scan_on_push])
    error_message = "images must be scanned on push"
  }

  assert {
    condition     = aws_ecr_repository.this["api"].name == "aircast-test/api"
    error_message = "repositories are named <prefix>/<component>"
  }

  assert {
    condition     = length(aws_ecr_lifecycle_policy.this) == 3
    error_message = "every repository expires old images"
  }
}
