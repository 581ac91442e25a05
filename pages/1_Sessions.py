"""Sessions: filter, sort, page and export optimization sessions (placeholder until its issue lands)."""

from __future__ import annotations

import streamlit as st

from ui.auth import require_login

user = require_login()
st.title("Sessions")
