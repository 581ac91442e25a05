# Shared by scripts/run and scripts/test: create .venv and install the project into it
# when pyproject.toml changed since the last install (a stamp file records its hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_venv() {
    local extra="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-${extra:-base}"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        local spec="$ROOT"
        [ -n "$extra" ] && spec="$ROOT[$extra]"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
        echo "$want" > "$stamp"
    fi
}
