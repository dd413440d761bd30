# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned and installed first: 2.13.0 is the CPU build on this machine's disk.
# A range here could pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test test-gpu bench-gpu lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[test,serve,onnx]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mmae demo --out runs/demo --overwrite

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

# The GPU checks (tests marked `cuda`) with this machine's own Python and PyTorch: no venv, no
# download (a GPU machine often has no registry access). Needs pytest and the package's
# dependencies importable; onnx/onnxruntime checks are skipped where those are missing.
test-gpu:
	PYTHONPATH=src $(PYTHON) -m pytest -q -m cuda -rs tests/test_cuda.py

# The GPU benchmark (a few minutes on one GPU): JSON in bench_gpu.json, table in BENCHMARKS.md.
bench-gpu:
	PYTHONPATH=src $(PYTHON) benchmarks/bench_gpu.py --out bench_gpu.json --write

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
