"""Core of the optimization-sessions dashboard: store, query engine, rules and CLI.

Nothing in this package imports Streamlit; the pages build on it through ``ui/``.
"""
