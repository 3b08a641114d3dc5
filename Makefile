# The two set-up commands: `make run` (the hub) and `make test` (the whole suite, real broker).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv broker-start broker-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	bash deploy/local/system-deps.sh
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/cshub run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

broker-start: $(STAMP)
	$(BIN)/cshub broker start

broker-stop: $(STAMP)
	$(BIN)/cshub broker stop

clean:
	-$(BIN)/cshub broker stop
	rm -rf $(VENV) .cshub
