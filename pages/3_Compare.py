"""Compare: 2 to 5 sessions side by side (``?compare=ID&compare=ID``), best values marked.

Opened from the Sessions page's selection, or by a shared link.
"""

from __future__ import annotations

from core.config import load_settings
from ui.auth import require_login
from ui.compare import render_compare
from ui.shell import page_setup

page_setup("Compare", icon="⚖️")
user = require_login()
render_compare(load_settings())
