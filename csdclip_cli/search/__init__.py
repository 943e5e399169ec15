"""Search: galleries, composite scoring, methods and the Searcher."""
