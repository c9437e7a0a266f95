"""A small OpenID Connect provider for ``make run`` and the tests (PSP_ENV=dev only; production refuses it).

Real protocol, demo people: discovery, ``/authorize`` (a "choose a demo account" page), ``/token`` (authorization
code with PKCE S256, each code used once; client credentials for dev tools), ``/jwks``; RS256 tokens carrying
iss, aud, exp, iat, sub, name, roles and a ``scope`` claim, so the services verify them like any provider's.
"""
