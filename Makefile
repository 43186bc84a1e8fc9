# Every target creates .venv when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo serve test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test,bench,serving,wsi]'
	touch $(STAMP)

install: $(STAMP)

# The main job on phantoms: CycleGAN stage + G2C PAS_ALL+ (runs/g2c), the PAS_ONLY baseline
# on the same data, their comparison (paired t-test), Figure 3, and the Triton export.
demo: $(STAMP)
	$(PY) -m trainers.g2c --config=configs/g2c.py --config.workdir=runs/g2c
	$(PY) -m trainers.g2c --config=configs/g2c.py --config.variant=PAS_ONLY \
		--config.workdir=runs/g2c_pas_only --config.data.root=runs/g2c/data
	$(PY) -m kerasg2c.compare runs/g2c_pas_only runs/g2c \
		--out=runs/g2c/compare_pas_only.json --figure=runs/g2c/figure3_rescued.png
	$(PY) -m serving.export --workdir=runs/g2c --repository=runs/model_repository --name=g2c
	@echo "G2C report: runs/g2c/report.json; versus PAS_ONLY: runs/g2c/compare_pas_only.json"
	@echo "Triton repository: runs/model_repository (make serve starts a server on it)"

# Triton on the demo's repository (HTTP 8000, gRPC 8001, metrics 8002); Ctrl-C stops it.
serve: $(STAMP)
	test -d runs/model_repository/g2c_python || \
		$(PY) -m serving.export --workdir=runs/g2c --repository=runs/model_repository --name=g2c
	$(PY) -m serving.server --repository=runs/model_repository

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
	test ! -d runs/g2c || $(PY) -m benchmarks.serving_load --workdir=runs/g2c

clean:
	rm -rf $(VENV) build *.egg-info
