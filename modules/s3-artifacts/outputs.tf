output "bucket_name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "policy_json" {
  description = "The bucket policy document."
  value       = aws_s3_bucket_policy.this.policy
}
