"""The event-type catalog an operator owns: records, schema validation, versions, seed, OpenAPI.

Pure domain code (no AWS SDK). Ingest imports only `names`, `schemas` and `snapshot`, which load no
pydantic; the admin API and the CLI use `records`, `lifecycle`, `seed` and `openapi` as well.
docs/catalog.md describes the lifecycle and the choices made here.
"""
