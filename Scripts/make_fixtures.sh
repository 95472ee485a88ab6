#!/usr/bin/env bash
# Regenerates the PyTorch parity fixtures. Needs the CPU wheel of PyTorch (see docs/development.md);
# the tests themselves only read the committed JSON files.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install --no-deps 'torch==2.13.0+cpu'
  .venv-torch/bin/pip install filelock typing-extensions sympy networkx jinja2 fsspec numpy safetensors
fi
.venv-torch/bin/python Scripts/make_fixtures.py
.venv-torch/bin/python Scripts/fixtures/safetensors_cases.py
.venv-torch/bin/python Scripts/fixtures/optim_cases.py
.venv-torch/bin/python Scripts/fixtures/data_cases.py
.venv-torch/bin/python Scripts/fixtures/model_cases.py
