"""PSP Outreach console: the coordinators web application."""
