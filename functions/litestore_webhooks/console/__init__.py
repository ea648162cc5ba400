"""The web console: static files served by the admin function, and its session routes.

`routes` is a Powertools Router the admin app includes (portal links, the session exchange,
the page and its assets); `assets` reads the files in `static/` only when a console route
asks, so the admin function's cold start does not pay for them. The page calls the admin API
itself, mounted for sessions under /console/api (resources.CONSOLE_ROUTES).
"""
