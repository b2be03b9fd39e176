# Operator settings of prod. Sizes and protection are in main.tf; credentials come from the
# repository secrets (TF_VAR_*).

# Required: the ACM certificate (same region) of the API's host name (TF_VAR_API_HOST).
# Planning prod fails with a clear message until it is set.
api_certificate_arn = ""

# Bump an entry after changing the credential behind it (see docs/infrastructure.md, "Rotating").
secret_versions = {}
