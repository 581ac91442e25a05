"""The HTTP JSON API beside the dashboard: ``/optimization/sessions`` and friends (see app.py)."""
