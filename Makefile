# The two commands a newcomer needs: `make reports` (the main job) and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

.PHONY: install reports test nbtest pytest sync clean-worlds

$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

## The main job: regenerate reports/ from the pipeline notebooks at the default scale.
reports: install
	$(BIN)/mmsearch reports

## The tests: every notebook (nbdev_test, smoke scale) and tests/ (pytest); fails if either runs nothing.
test: install nbtest pytest

nbtest:
	@n=$$(find nbs -name '[0-9]*.ipynb' -not -path '*/.*' | wc -l); test $$n -gt 0 || { echo "no notebooks to test"; exit 1; }
	PATH=$(BIN):$$PATH $(BIN)/nbdev_test --n_workers 2 --timing

pytest:
	PATH=$(BIN):$$PATH $(BIN)/python -m pytest tests -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

## Notebooks and library in sync: cleaning and exporting must leave no diff.
sync: install
	PATH=$(BIN):$$PATH $(BIN)/nbdev_clean
	PATH=$(BIN):$$PATH $(BIN)/nbdev_export
	git diff --exit-code -- nbs mmsearch || { echo "nbs/ or mmsearch/ out of sync: run nbdev_clean && nbdev_export and commit"; exit 1; }
	test -z "$$(git status --porcelain -- nbs mmsearch)" || { git status --porcelain -- nbs mmsearch; echo "untracked files after export"; exit 1; }
