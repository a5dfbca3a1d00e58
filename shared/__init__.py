"""CareKey's common library: configuration, database, logging, messaging and HTTP plumbing.

Infrastructure and contracts only; no business rules live here.
"""
