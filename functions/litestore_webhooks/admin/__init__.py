"""Admin API: one module per resource, each a Powertools Router over plain functions.

`handlers/admin.py` includes the routers; the functions here take a Store/Provisioner and
plain values, so tests and the CLI's local mode can call them without HTTP.
"""
