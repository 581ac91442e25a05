.PHONY: run test lint bench
run:  ## start the dashboard (installs on first use)
	bash scripts/run
test: ## run the whole test suite (installs on first use)
	bash scripts/test
lint:
	.venv/bin/ruff check .
bench:
	.venv/bin/python benchmarks/bench_sessions.py
