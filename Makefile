# Every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,bench,serving]'
	touch $(STAMP)

install: $(STAMP)

# The main job on phantoms: CycleGAN stage + G2C PAS_ALL+ (runs/g2c), the PAS_ONLY baseline
# on the same data, their comparison (paired t-test) and Figure 3.
demo: $(STAMP)
	$(PY) -m trainers.g2c --config=configs/g2c.py --config.workdir=runs/g2c
	$(PY) -m trainers.g2c --config=configs/g2c.py --config.variant=PAS_ONLY \
		--config.workdir=runs/g2c_pas_only --config.data.root=runs/g2c/data
	$(PY) -m trainers.compare runs/g2c_pas_only runs/g2c \
		--out=runs/g2c/compare_pas_only.json --figure=runs/g2c/figure3_rescued.png
	@echo "G2C report: runs/g2c/report.json; versus PAS_ONLY: runs/g2c/compare_pas_only.json"

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
