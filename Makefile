# The README's commands. `make demo` and `make test` set everything up themselves.
.PHONY: setup demo test check format bench clean

DB ?= demo.db
VENV_BIN := .venv/bin
PYTEST_ARGS ?=

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV_BIN)/paperfeed --db $(DB) demo $(if $(PORT),--port $(PORT))

check: setup
	$(VENV_BIN)/ruff format --check src tests bench
	$(VENV_BIN)/ruff check src tests bench
	$(VENV_BIN)/mypy

# pytest runs from a copy of the repository with nothing beside it (scripts/test.sh), as in a clone.
# More pytest arguments: make test PYTEST_ARGS="-k dropout -x"
test: check
	PYTHON=$(VENV_BIN)/python bash scripts/test.sh $(PYTEST_ARGS)

format: setup
	$(VENV_BIN)/ruff format src tests bench
	$(VENV_BIN)/ruff check --fix src tests bench

bench: setup
	$(VENV_BIN)/python bench/import.py
	$(VENV_BIN)/python bench/harvest.py
	$(VENV_BIN)/python bench/trending.py --quick
	$(VENV_BIN)/python bench/digest.py --quick
	$(VENV_BIN)/python bench/pipeline.py --papers 200 --search-s 10

# requirements.lock from pyproject.toml: exact versions with hashes for CI's Python 3.11 on
# linux x86_64. Pins that still fit are kept; `make lock LOCK_FLAGS=--upgrade` moves all to newest.
.PHONY: lock
lock: setup
	$(VENV_BIN)/uv pip compile -q pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 $(LOCK_FLAGS) -o requirements.lock

clean:
	rm -rf .venv demo.db demo.db-wal demo.db-shm demo.db-index demo.db-outbox .pytest_cache .mypy_cache .ruff_cache
