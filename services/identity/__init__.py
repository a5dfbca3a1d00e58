"""The OpenID Connect provider: accounts, credentials, sessions, clients, tokens and keys."""
