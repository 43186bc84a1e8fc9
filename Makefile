# Every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m trainers.classifier --config=configs/classifier.py

test: $(STAMP)
	$(PY) -m pytest -ra

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks.pipeline
	$(PY) -m benchmarks.classifier_step
	$(PY) -m benchmarks.cyclegan_step --size=64 --batch=1 --ngf=64 --blocks=9 --steps=5
	$(PY) -m benchmarks.g2c_step --size=224 --batch=4 --steps=2

clean:
	rm -rf $(VENV) build *.egg-info
