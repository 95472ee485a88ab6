"""Writes the PyTorch parity fixtures that Galen's tests replay (no PyTorch needed at test time).

Run from the repository root:  Scripts/make_fixtures.sh
Each module in Scripts/fixtures named cases_*.py defines CASES (a list of fixture records made with
common.case) and optionally TARGET, the test target that replays them (default GalenTests); this
writes Tests/<TARGET>/Fixtures/ops_<name>.json for each.
"""
import importlib
import json
import pathlib
import sys

import torch

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "Scripts" / "fixtures"))

torch.use_deterministic_algorithms(True)
import common

for path in sorted((root / "Scripts" / "fixtures").glob("cases_*.py")):
    # Each file draws from a freshly seeded generator, so adding a file leaves the others unchanged.
    common.reseed()
    module = importlib.import_module(path.stem)
    name = path.stem[len("cases_"):]
    out_dir = root / "Tests" / getattr(module, "TARGET", "GalenTests") / "Fixtures"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"ops_{name}.json"
    target.write_text(json.dumps({"generator": f"torch {torch.__version__}", "cases": module.CASES}) + "\n")
    print(f"{target.relative_to(root)}: {len(module.CASES)} cases")
