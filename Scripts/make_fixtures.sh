#!/usr/bin/env bash
# Regenerates the PyTorch parity fixtures. Needs the CPU wheel of PyTorch (see docs/development.md);
# the tests themselves only read the committed JSON files.
set -euo pipefail
cd "$(dirname "$0")/.."
# The install steps are idempotent (pip skips what is there), so a venv made for an older set of
# fixture scripts gets the readers added since.
[ -x .venv-torch/bin/python ] || python3 -m venv .venv-torch
.venv-torch/bin/pip install -q --no-deps 'torch==2.13.0+cpu'
.venv-torch/bin/pip install -q filelock typing-extensions sympy networkx jinja2 fsspec numpy \
  safetensors pillow tifffile wfdb nibabel pydicom scikit-learn scipy
.venv-torch/bin/python Scripts/make_fixtures.py
.venv-torch/bin/python Scripts/fixtures/safetensors_cases.py
.venv-torch/bin/python Scripts/fixtures/optim_cases.py
.venv-torch/bin/python Scripts/fixtures/data_cases.py
.venv-torch/bin/python Scripts/fixtures/model_cases.py
.venv-torch/bin/python Scripts/fixtures/image_cases.py
.venv-torch/bin/python Scripts/fixtures/wfdb_cases.py
.venv-torch/bin/python Scripts/fixtures/nifti_cases.py
.venv-torch/bin/python Scripts/fixtures/metrics_cases.py
.venv-torch/bin/python Scripts/fixtures/dataset_cases.py
.venv-torch/bin/python Scripts/fixtures/dicom_cases.py
.venv-torch/bin/python Scripts/fixtures/transform_cases.py
.venv-torch/bin/python Scripts/fixtures/recurrent_cases.py
.venv-torch/bin/python Scripts/fixtures/attention_cases.py
