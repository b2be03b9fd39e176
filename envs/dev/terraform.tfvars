# Operator settings of dev. Sizes and protection are in main.tf; credentials come from the
# repository secrets (TF_VAR_*).

# ACM certificate (same region) of TF_VAR_API_HOST; empty = the API is served over HTTP.
api_certificate_arn = ""

# Bump an entry after changing the credential behind it (see docs/infrastructure.md, "Rotating").
secret_versions = {}
