.PHONY: run test lint bench
run:  ## start the dashboard (installs on first use)
	bash scripts/run
test: ## run the whole test suite (installs on first use)
	bash scripts/test
lint: ## ruff lint, ruff format and mypy (scripts/test runs them before the suite)
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
bench:
	.venv/bin/python benchmarks/bench_sessions.py
