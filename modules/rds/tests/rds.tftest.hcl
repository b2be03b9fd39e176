mock_provider "aws" {}

variables {
  identifier = "aircast-test"
  db_name    = "aircast"
  username   = "aircast_admin"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
}

run "secure_defaults" {
  command = plan

  assert {
    condition     = !aws_db_instance.this.publicly_accessible
    error_message = "RDS must never be publicly accessible"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted
    error_message = "storage must be encrypted"
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.password_wo_version == null
    error_message = "by default RDS manages the master password in Secrets Manager"
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection && !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == "aircast-test-final"
    error_message = "deletion protection and a final snapshot are on by default"
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 7 && aws_db_instance.this.multi_az
    error_message = "backups and Multi-AZ are on by default"
  }

  assert {
    condition     = output.force_ssl
    error_message = "the parameter group must set rds.force_ssl = 1"
  }

  assert {
    condition     = aws_db_parameter_group.this.family == "postgres16"
    error_message = "the parameter group family follows the engine's major version"
  }
}

run "supplied_password_is_write_only" {
  command = plan

  variables {
    manage_master_user_password = false
    password                    = "test-only-password"
    password_version            = 3
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password == null && aws_db_instance.this.password == null
    error_message = "a supplied password must not use the stored password argument"
  }

  assert {
    condition     = aws_db_instance.this.password_wo_version == 3 && output.master_password_write_only
    error_message = "a supplied password goes through password_wo with its version"
  }
}

run "disposable_instance" {
  command = plan

  variables {
    deletion_protection = false
    final_snapshot      = false
  }

  assert {
    condition     = !aws_db_instance.this.deletion_protection && aws_db_instance.this.skip_final_snapshot
    error_message = "protection and final snapshot are configurable"
  }
}

run "backups_cannot_be_disabled" {
  command = plan

  variables {
    backup_retention_period = 0
  }

  expect_failures = [var.backup_retention_period]
}
