"""Notifications: delivers email, text and voice messages requested by the other services."""
