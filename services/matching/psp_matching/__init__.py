"""Matching: picks the right peer supporter from the roster for each outreach case."""
