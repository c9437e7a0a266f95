"""Listener: validates intake, strips patient data and narrative, publishes IncidentObserved."""
