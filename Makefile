# Two commands set everything up on a fresh machine (see README):
#   make demo   - installs augcli into .venv and expands sample_images/ into demo_output/
#   make test   - installs the test dependencies into .venv and runs the test suite
#   make fuzz SEED=7 N=5000 - a longer seeded fuzz run of the file readers (tests/test_fuzz.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/augcli expand sample_images demo_output -n 4 --rotate 20 --width-shift 0.1 --height-shift 0.1 \
		--zoom 0.15 --hflip --brightness 0.8:1.2 --seed 42 --on-exists overwrite
	@echo "augmented images and manifest.jsonl are in demo_output/"

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# longer fuzzing by hand: make fuzz SEED=7 N=5000 (CI runs tests/test_fuzz.py with a fixed seed and count)
SEED ?= 1
N ?= 2000
fuzz: $(VENV)/.installed-test
	AUGCLI_FUZZ_SEED=$(SEED) AUGCLI_FUZZ_N=$(N) AUGCLI_FUZZ_BATCH=250 $(BIN)/python -m pytest -q tests/test_fuzz.py

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .hypothesis
