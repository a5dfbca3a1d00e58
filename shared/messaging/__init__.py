"""Messaging: the envelope contract, the broker topology, the transactional outbox and consumers."""
