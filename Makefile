# Quick start: `make demo` and `make test`. Both create .venv if it is missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt setup.py tools/install_dev_path.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<27"
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	$(PY) tools/install_dev_path.py
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m official.align.demo --workdir=runs/demo
	$(PY) export/export_tfhub.py --model_dir=runs/demo/model \
	    --export_dir=runs/demo/export --overwrite

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 --dist loadgroup tests

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) runs
