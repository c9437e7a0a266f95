"""Rules domain: pure Python rule evaluation, suppression and merging (no framework imports)."""
