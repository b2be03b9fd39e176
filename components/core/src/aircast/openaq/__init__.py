"""OpenAQ sources: the v3 API client, the public S3 archive, CSV exports, and a local server."""
