data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name       = "${var.project_prefix}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # Repository secrets that are not set arrive as "" (GitHub expands a missing secret to an
  # empty string): fall back to this stack's own resources.
  magedb_name = coalesce(var.aircast_db.name, "aircast")
  magedb_user = coalesce(var.aircast_db.reader_username, "aircast_reader")
  magedb_host = coalesce(var.aircast_db.host, module.mage_db.address)
  magedb_port = coalesce(var.aircast_db.port, "5432")
  mlflow_host = coalesce(var.mlflow_host, "mlflow.${module.cluster.namespace_name}")

  # The master user of each instance is RDS's: RDS generates its password into a Secrets Manager
  # secret (encrypted with the project key) and rotates it. The services log in with their own
  # roles, created once from that master login (docs/infrastructure.md, "Databases").
  master_username = "dbadmin"

  mlflow_port         = 5000
  mlflow_tracking_uri = "http://${local.mlflow_host}:${local.mlflow_port}"
  artifacts_uri       = "s3://${local.bucket_name}/mlartifacts"
  bucket_name         = "${local.name}-artifacts-${local.account_id}"
  https               = var.api_certificate_arn != ""

  images = { for k, url in module.ecr.repository_urls : k => "${url}:${var.image_tag}" }

  # Services reach PostgreSQL, MLflow and the VPC endpoints inside the VPC, and HTTPS outside.
  egress_https    = { https = { port = 443, cidr_ipv4 = "0.0.0.0/0", description = "HTTPS: AWS APIs, OpenAQ" } }
  egress_postgres = { postgres = { port = 5432, cidr_ipv4 = var.vpc_cidr, description = "PostgreSQL (RDS)" } }
  egress_mlflow   = { mlflow = { port = local.mlflow_port, cidr_ipv4 = var.vpc_cidr, description = "MLflow tracking server" } }
}

# --- Encryption key ------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${local.name}: secrets, logs, RDS, S3 artifacts, ECR"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # IAM policies of the account decide who uses the key (the usual key policy root grant).
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypt"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

# --- Network, cluster, images -------------------------------------------------------------------

module "network" {
  source = "../network"

  name                    = local.name
  cidr_block              = var.vpc_cidr
  single_nat_gateway      = var.single_nat_gateway
  flow_log_retention_days = var.log_retention_days
  kms_key_arn             = aws_kms_key.this.arn
}

module "cluster" {
  source = "../ecs-cluster"

  name   = local.name
  vpc_id = module.network.vpc_id
}

module "ecr" {
  source = "../ecr"

  name_prefix  = local.name
  repositories = ["mage", "mlflow", "api"]
  kms_key_arn  = aws_kms_key.this.arn
}

# --- Databases ----------------------------------------------------------------------------------

module "mlflow_db" {
  source = "../rds"

  identifier                  = "${local.name}-mlflow"
  db_name                     = "mlflow"
  username                    = local.master_username
  manage_master_user_password = true
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = { mlflow = module.mlflow.security_group_id }
  kms_key_arn                 = aws_kms_key.this.arn
  instance_class              = var.db.instance_class
  allocated_storage           = var.db.allocated_storage
  max_allocated_storage       = var.db.max_allocated_storage
  multi_az                    = var.db.multi_az
  backup_retention_period     = var.db.backup_retention_period
  deletion_protection         = var.db.deletion_protection
  final_snapshot              = var.db.final_snapshot
  performance_insights        = var.db.performance_insights
}

module "mage_db" {
  source = "../rds"

  identifier                  = "${local.name}-mage"
  db_name                     = local.magedb_name
  username                    = local.master_username
  manage_master_user_password = true
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  allowed_security_group_ids  = { mage = module.mage.security_group_id, api = module.api.security_group_id }
  kms_key_arn                 = aws_kms_key.this.arn
  instance_class              = var.db.instance_class
  allocated_storage           = var.db.allocated_storage
  max_allocated_storage       = var.db.max_allocated_storage
  multi_az                    = var.db.multi_az
  backup_retention_period     = var.db.backup_retention_period
  deletion_protection         = var.db.deletion_protection
  final_snapshot              = var.db.final_snapshot
  performance_insights        = var.db.performance_insights
}

# --- Secrets ------------------------------------------------------------------------------------

module "secrets" {
  source = "../secrets"

  name_prefix             = "${var.project_prefix}/${var.environment}"
  kms_key_arn             = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days

  # mage_admin_password has no value from Terraform: terraform.yml generates it with
  # `aws secretsmanager get-random-password` when it is empty, so it exists in no state, plan or
  # repository secret. (An ephemeral random-password resource would do it in Terraform, but
  # `terraform test` cannot mock ephemeral resources yet.)
  secrets = {
    openaq_api_key               = { description = "OpenAQ v3 API key (Mage ingest)", value_version = var.secret_versions.openaq_api_key }
    api_keys                     = { description = "SHA-256 digests of the accepted API keys", value_version = var.secret_versions.api_keys }
    aircast_database_url         = { description = "aircast DB, writer (Mage)", value_version = var.secret_versions.aircast_database_url }
    aircast_database_reader_url  = { description = "aircast DB, read-only role (API)", value_version = var.secret_versions.aircast_database_reader_url }
    mlflow_backend_store_uri     = { description = "MLflow backend store (RDS)", value_version = var.secret_versions.mlflow_backend_store_uri }
    mage_database_connection_url = { description = "Mage metadata DB", value_version = var.secret_versions.mage_database_connection_url }
    mage_admin_password          = { description = "Password of Mage's owner account", value_version = null }
  }

  secret_values = {
    openaq_api_key               = var.credentials.openaq_api_key
    api_keys                     = var.credentials.api_keys
    aircast_database_url         = "postgresql://${urlencode(var.credentials.mage_db_username)}:${urlencode(var.credentials.mage_db_password)}@${local.magedb_host}:${local.magedb_port}/${local.magedb_name}?sslmode=require"
    aircast_database_reader_url  = "postgresql://${urlencode(local.magedb_user)}:${urlencode(var.credentials.reader_db_password)}@${local.magedb_host}:${local.magedb_port}/${local.magedb_name}?sslmode=require"
    mlflow_backend_store_uri     = "postgresql+psycopg://${urlencode(var.credentials.mlflow_db_username)}:${urlencode(var.credentials.mlflow_db_password)}@${module.mlflow_db.address}:5432/mlflow?sslmode=require"
    mage_database_connection_url = var.credentials.mage_database_connection_url
  }
}

# --- Artifact bucket ----------------------------------------------------------------------------

module "artifacts" {
  source = "../s3-artifacts"

  bucket_name = local.bucket_name
  kms_key_arn = aws_kms_key.this.arn
  # Only the MLflow server touches artifacts; clients go through its artifact proxy.
  access_role_arns = { mlflow = module.mlflow.task_role_arn }
}

# --- Load balancer of the API -------------------------------------------------------------------

resource "aws_security_group" "alb" {
  name        = "${local.name}-api-alb"
  description = "Public entry of the aircast API"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-api-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  #checkov:skip=CKV_AWS_260:port 80 only redirects to HTTPS when a certificate is set (and serves dev without one).
  for_each = { for pair in setproduct(var.alb_ingress_cidrs, local.https ? [80, 443] : [80]) : "${pair[0]}-${pair[1]}" => pair }

  security_group_id = aws_security_group.alb.id
  description       = "API clients on ${each.value[1]}"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id = aws_security_group.alb.id
  description       = "To the API tasks"
  ip_protocol       = "tcp"
  from_port         = 8000
  to_port           = 8000
  cidr_ipv4         = var.vpc_cidr
}

resource "aws_lb" "api" {
  #checkov:skip=CKV_AWS_150:deletion protection follows db.deletion_protection: on in prod, off in dev so it can be destroyed.
  #checkov:skip=CKV2_AWS_20:HTTP redirects to HTTPS whenever a certificate is set (aws_lb_listener.http_redirect); prod refuses to plan without one.
  #checkov:skip=CKV_AWS_91:ALB access logs need a log bucket with an ELB-delivery policy; the API's own JSON access logs go to CloudWatch.
  #checkov:skip=CKV2_AWS_28:WAF is priced per rule and request; API keys and rate limits in the API are the first line here.
  name                       = "${local.name}-api"
  load_balancer_type         = "application"
  internal                   = false # the one public entry point; Mage and MLflow have none
  subnets                    = module.network.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.db.deletion_protection
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.api_certificate_arn

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      message_body = "{\"title\":\"Not Found\",\"status\":404}"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener" "http_redirect" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:plain HTTP only without a certificate (dev); require_https refuses this in prod.
  #checkov:skip=CKV_AWS_103:no TLS on this listener by design (see above).
  #checkov:skip=CKV2_AWS_20:no certificate to redirect to; the HTTPS variant is aws_lb_listener.http_redirect.
  count = local.https ? 0 : 1

  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "application/json"
      message_body = "{\"title\":\"Not Found\",\"status\":404}"
      status_code  = "404"
    }
  }
}

# --- Services -----------------------------------------------------------------------------------

module "mlflow" {
  source = "../ecs-service"

  name           = "mlflow"
  name_prefix    = local.name
  cluster_arn    = module.cluster.cluster_arn
  image          = local.images["mlflow"]
  cpu            = var.services.mlflow_cpu
  memory         = var.services.mlflow_memory
  container_port = local.mlflow_port
  vpc_id         = module.network.vpc_id
  subnet_ids     = module.network.private_subnet_ids
  # MLflow writes temporary files (uploads, model staging) outside any declared volume.
  readonly_root_filesystem = false

  environment = {
    MLFLOW_ARTIFACTS_DESTINATION = local.artifacts_uri
    MLFLOW_WORKERS               = tostring(var.services.mlflow_workers)
  }
  secrets = {
    MLFLOW_BACKEND_STORE_URI = module.secrets.arns["mlflow_backend_store_uri"]
  }
  kms_key_arns = [aws_kms_key.this.arn]

  # The only role with access to the artifact bucket (the bucket policy names it too).
  task_role_policies = { artifacts = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListArtifacts"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = "arn:${local.partition}:s3:::${local.bucket_name}"
      },
      {
        Sid      = "ReadWriteArtifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
        Resource = "arn:${local.partition}:s3:::${local.bucket_name}/mlartifacts/*"
      },
      {
        Sid      = "ArtifactEncryption"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = aws_kms_key.this.arn
      },
    ]
  }) }

  ingress_security_group_ids = { api = module.api.security_group_id, mage = module.mage.security_group_id }
  egress_rules               = merge(local.egress_https, local.egress_postgres)
  service_discovery          = { namespace_id = module.cluster.namespace_id }
  health_check = {
    command = ["CMD-SHELL", "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.mlflow_port}/health')\""]
  }
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = aws_kms_key.this.arn
}

module "api" {
  source = "../ecs-service"

  name           = "api"
  name_prefix    = local.name
  cluster_arn    = module.cluster.cluster_arn
  image          = local.images["api"]
  cpu            = var.services.api_cpu
  memory         = var.services.api_memory
  container_port = 8000
  vpc_id         = module.network.vpc_id
  subnet_ids     = module.network.private_subnet_ids

  environment = {
    AIRCAST_ENV                = var.app_env
    AIRCAST_API_HOST           = "0.0.0.0" # bind address inside the task; the ALB is the entry
    AIRCAST_API_PORT           = "8000"
    AIRCAST_MODEL_POLL_SECONDS = tostring(var.services.api_poll_seconds)
    MLFLOW_TRACKING_URI        = local.mlflow_tracking_uri
  }
  secrets = {
    AIRCAST_DATABASE_READER_URL = module.secrets.arns["aircast_database_reader_url"]
    AIRCAST_API_KEYS            = module.secrets.arns["api_keys"]
  }
  kms_key_arns = [aws_kms_key.this.arn]

  ingress_security_group_ids = { alb = aws_security_group.alb.id }
  egress_rules               = merge(local.egress_https, local.egress_postgres, local.egress_mlflow)
  load_balancer = {
    listener_arn      = local.https ? aws_lb_listener.https[0].arn : aws_lb_listener.http[0].arn
    host_headers      = var.api_host == "" ? [] : [var.api_host]
    health_check_path = "/readyz"
  }
  health_check = {
    command = ["CMD-SHELL", "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')\""]
  }
  autoscaling = {
    min_capacity  = var.services.api_min_tasks
    max_capacity  = var.services.api_max_tasks
    cpu_target    = 60
    memory_target = 75
  }
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = aws_kms_key.this.arn
}

module "mage" {
  source = "../ecs-service"

  name           = "mage"
  name_prefix    = local.name
  cluster_arn    = module.cluster.cluster_arn
  image          = local.images["mage"]
  cpu            = var.services.mage_cpu
  memory         = var.services.mage_memory
  container_port = 6789
  vpc_id         = module.network.vpc_id
  subnet_ids     = module.network.private_subnet_ids
  # Mage writes its project state and block outputs under MAGE_DATA_DIR at run time.
  readonly_root_filesystem = false

  environment = {
    MLFLOW_TRACKING_URI         = local.mlflow_tracking_uri
    REQUIRE_USER_AUTHENTICATION = "1"
    DEFAULT_OWNER_EMAIL         = var.mage_admin_email
    DEFAULT_OWNER_USERNAME      = "admin"
  }
  secrets = {
    AIRCAST_DATABASE_URL         = module.secrets.arns["aircast_database_url"]
    MAGE_DATABASE_CONNECTION_URL = module.secrets.arns["mage_database_connection_url"]
    OPENAQ_API_KEY               = module.secrets.arns["openaq_api_key"]
    # Replaces Mage's built-in admin/admin owner account on first start.
    DEFAULT_OWNER_PASSWORD = module.secrets.arns["mage_admin_password"]
  }
  kms_key_arns = [aws_kms_key.this.arn]

  # No load balancer and no ingress: the UI is reached with `aws ecs execute-command` port
  # forwarding by operators only (docs/infrastructure.md).
  enable_execute_command = true
  egress_rules           = merge(local.egress_https, local.egress_postgres, local.egress_mlflow)
  log_retention_days     = var.log_retention_days
  log_kms_key_arn        = aws_kms_key.this.arn
}
