# The two commands users run: `make demo` and `make test`. Both (re)install what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_ROOT ?= $(CURDIR)/.lirank
export LIRANK_DATA_ROOT := $(DATA_ROOT)
export DAGSTER_HOME := $(DATA_ROOT)/dagster_home
export PYSPARK_PYTHON := $(CURDIR)/$(BIN)/python
export TF_CPP_MIN_LOG_LEVEL := 2
HOROVOD_ENV := CMAKE_POLICY_VERSION_MINIMUM=3.5 HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 \
	HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_MPI=1

.PHONY: install browser demo test ui dashboard bench ablation lint clean

# A Dagster instance for the demo and the UI: telemetry off, run monitoring on. The daemon of
# `make ui` then fails a run stuck in STARTING, or cancels one stuck in CANCELING, after 3 minutes,
# and terminates a run older than RUN_MAX_RUNTIME_S: with Dagster's default run launcher that is
# how a run whose worker was killed leaves STARTED (the launcher can neither check nor resume its
# workers, hence max_resume_run_attempts: 0; `make demo` fails its own orphaned runs at start).
# Generated: rewritten whenever the Makefile changes, so existing data roots pick changes up.
RUN_MAX_RUNTIME_S ?= 7200
$(DAGSTER_HOME)/dagster.yaml: Makefile
	mkdir -p $(DAGSTER_HOME)
	printf '%s\n' 'telemetry:' '  enabled: false' 'run_monitoring:' '  enabled: true' \
		'  start_timeout_seconds: 180' '  cancel_timeout_seconds: 180' \
		'  max_runtime_seconds: $(RUN_MAX_RUNTIME_S)' '  max_resume_run_attempts: 0' \
		'  poll_interval_seconds: 60' > $@

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Re-installs when pyproject.toml changes. Horovod is an sdist that must be built against the
# installed TensorFlow, so it comes after (about 7 minutes on 2 cores the first time; pip caches
# the wheel).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -c "import horovod.tensorflow" 2>/dev/null || \
		$(HOROVOD_ENV) $(BIN)/pip install -q --no-build-isolation horovod==0.28.1
	$(BIN)/pip check
	touch $@

install: $(VENV)/.installed

# Headless Chromium + driver for the dashboard's browser test (Debian packages).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m lirank_assets.demo

test: install browser
	$(BIN)/python -m pytest -q tests

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

dashboard: install
	$(BIN)/streamlit run dashboards/app.py --server.address 127.0.0.1 --server.headless true

bench: install
	$(BIN)/python bench/demo.py
	$(BIN)/python bench/world.py
	$(BIN)/python bench/models.py

# The Table 6 ablation ladder (bench/ablation.py) into the warehouse's `ablation_results`, which
# the dashboard's Ablation page shows after the next review snapshot. The default preset takes
# about 20 minutes on 2 cores; `make ablation ABLATION_ARGS="--preset large"` runs two seeds and
# the paper's 4 x 3500 LMLP, `ABLATION_ARGS=--quick` the first three rows. Then the Ads (Table 8)
# and Jobs (Table 10) ladders (bench/product_ablation.py, a few minutes) into
# `product_ablation_results`.
ABLATION_ARGS ?=
PRODUCT_ABLATION_ARGS ?=
ablation: install
	$(BIN)/python bench/ablation.py $(ABLATION_ARGS)
	$(BIN)/python bench/product_ablation.py $(PRODUCT_ABLATION_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(DATA_ROOT)
