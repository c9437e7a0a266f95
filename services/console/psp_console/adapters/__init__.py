"""The console's adapters: its own database (sessions, pending sign-ins, audit), the OIDC client, the services."""
