"""OAuth2 client credentials for source systems: clients per data source, hashed tokens, scopes.

A data administrator registers a client for a data source (`register_client`); the source's
system trades the client's id and secret for a short-lived bearer token at
POST /api/v1/oauth/token; endpoints for source systems declare the scope they need with
`index_service.guards.requires_scope`. Secrets and tokens are stored only as SHA-256 hashes.
"""
