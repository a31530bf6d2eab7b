# Quick start: `make demo` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The demo needs the runtime stack only; tests and benchmarks add
# requirements-test.txt (pytest, notebooks, torch + transformers as peers).
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py tools/install_dev_path.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<27"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) tools/install_dev_path.py
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(PY) -m official.align.demo --workdir=runs/demo
	$(PY) export/export_tfhub.py --model_dir=runs/demo/model \
	    --export_dir=runs/demo/export --overwrite
	$(PY) -m official.align.search build --hub_dir=runs/demo/export \
	    --images='runs/demo/world/eval-*.tfrecord' --index_dir=runs/demo/index \
	    --overwrite
	@echo "Search page of the demo's eval images (then open http://127.0.0.1:8080/):"
	@echo "  $(PY) -m official.align.search serve --index_dir=runs/demo/index --hub_dir=runs/demo/export"

test: $(TEST_STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -rs -n 2 --dist loadfile --durations=15 tests

bench: $(TEST_STAMP)
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) runs
