"""`csd serve`: a warm local search service (service.py), its HTTP app and page (app.py,
static/index.html), and the stdlib client `csd search` uses (client.py)."""
