"""Authlib, customised only through its hooks: grants, client model, PKCE, OIDC, endpoints."""
