# The two commands of the README: `make book` and `make test`.
# `make book` builds the pages, the labs that run in the browser (--lite) and the PDF and zip
# to take away. Both set up .venv on first use (a fresh Debian machine needs only python3) and reuse it after.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PLAN   ?= online-course

.PHONY: book test check clean

book: $(STAMP)
	$(BIN)/igcb book --plan $(PLAN) --lite

test: $(STAMP)
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/igcb check

# Reinstall only when the project's dependencies or the set-up itself change.
$(STAMP): pyproject.toml scripts/setup-venv.sh
	@bash scripts/setup-venv.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

clean:
	rm -rf book/_build
