"""Notification: pages peer supporters, tracks acknowledgement, escalates, publishes status and feeds."""
