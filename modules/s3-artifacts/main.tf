resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:server access logs would need a second bucket per env; CloudTrail data events cover object access.
  #checkov:skip=CKV_AWS_144:artifacts are reproducible from training runs; cross-region replication is not worth doubling storage.
  #checkov:skip=CKV2_AWS_62:nothing consumes object events; MLflow records every artifact it writes.
  #checkov:skip=CKV_AWS_145:SSE-KMS is opt-in through var.kms_key_arn (SSE-S3 otherwise); the envs pass the project key.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is decided by policies only
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

locals {
  object_actions = [
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
  ]
  role_arns = sort(values(var.access_role_arns))
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "AllowListedRoles"
        Effect    = "Allow"
        Principal = { AWS = local.role_arns }
        Action    = concat(local.object_actions, ["s3:ListBucket", "s3:GetBucketLocation"])
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
      },
      {
        # Identity policies elsewhere in the account cannot open the objects to anyone else.
        Sid       = "DenyObjectAccessToOthers"
        Effect    = "Deny"
        Principal = "*"
        Action    = local.object_actions
        Resource  = "${aws_s3_bucket.this.arn}/*"
        Condition = { ArnNotEquals = { "aws:PrincipalArn" = local.role_arns } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}
