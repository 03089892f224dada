# Fresh machine: Python 3.11 + pip + make. `make demo` and `make test` create .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_CASE ?= cases/ding2023_full.toml

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,ebsd,hdf5,parquet,distributed]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/netsolve run $(DEMO_CASE) -o out/$(basename $(notdir $(DEMO_CASE))) --overwrite

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: $(VENV)/.installed
	@$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

clean:
	rm -rf $(VENV) out .pytest_cache *.egg-info
