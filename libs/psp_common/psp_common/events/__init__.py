"""Event schemas, one module per bounded context, all sharing the envelope in ``envelope``."""
