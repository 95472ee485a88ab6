"""Writes the PyTorch parity fixtures that Galen's tests replay (no PyTorch needed at test time).

Run from the repository root:  Scripts/make_fixtures.sh
Each module in Scripts/fixtures named cases_*.py defines CASES (a list of fixture records made with
common.case); this writes Tests/GalenTests/Fixtures/ops_<name>.json for each.
"""
import importlib
import json
import pathlib
import sys

import torch

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "Scripts" / "fixtures"))
out_dir = root / "Tests" / "GalenTests" / "Fixtures"
out_dir.mkdir(parents=True, exist_ok=True)

torch.use_deterministic_algorithms(True)
for path in sorted((root / "Scripts" / "fixtures").glob("cases_*.py")):
    module = importlib.import_module(path.stem)
    name = path.stem[len("cases_"):]
    target = out_dir / f"ops_{name}.json"
    target.write_text(json.dumps({"generator": f"torch {torch.__version__}", "cases": module.CASES}) + "\n")
    print(f"{target.relative_to(root)}: {len(module.CASES)} cases")
