"""Shared conventions of PSP Outreach: event schemas, topics, settings, database and Kafka delivery."""
