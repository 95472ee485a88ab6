"""Trains the MedMNIST v2 paper's ResNet-18 (28) in PyTorch on a bundled MedMNIST file and checks
that `galen evaluate` gives the same test probabilities from the same weights (issue 5: "a model
trained in PyTorch with the MedMNIST paper's ResNet-18 (28) code must evaluate to the same
probabilities in Galen").

    .venv-torch/bin/python Scripts/pytorch_medmnist_resnet.py --epochs 1 --out /tmp/torch-resnet
    Scripts/galen evaluate --model resnet18-28 --weights /tmp/torch-resnet/model.safetensors \
        --data pneumoniamnist --output /tmp/torch-resnet/galen
    .venv-torch/bin/python Scripts/pytorch_medmnist_resnet.py --compare /tmp/torch-resnet

The recipe is the paper's (Adam 1e-3, batch 128, cross-entropy, ToTensor + Normalize(0.5, 0.5));
the architecture is the reference module of Scripts/fixtures/model_cases.py, whose state-dict
names Galen's resnet18-28 mirrors.
"""
import argparse
import csv
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

root = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "Scripts" / "fixtures"))
from model_cases import BasicBlock28, ResNet28  # noqa: E402


def normalized(images):
    x = torch.from_numpy(images).float().div(255)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    else:
        x = x.permute(0, 3, 1, 2)
    return (x - 0.5) / 0.5


def train(args):
    data = np.load(root / "Data" / "medmnist" / f"{args.data}.npz")
    x_train, y_train = normalized(data["train_images"]), torch.from_numpy(data["train_labels"][:, 0]).long()
    x_test = normalized(data["test_images"])
    classes = int(y_train.max()) + 1
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    model = ResNet28(BasicBlock28, [2, 2, 2, 2], in_channels=x_train.shape[1], num_classes=classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), 128):
            rows = order[start:start + 128]
            loss = F.cross_entropy(model(x_train[rows]), y_train[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        probabilities = torch.cat([F.softmax(model(x_test[s:s + 256]), dim=1) for s in range(0, len(x_test), 256)])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    with open(out / "torch_predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "label"] + [f"prob_{k}" for k in range(classes)])
        for i, row in enumerate(probabilities.tolist()):
            w.writerow([i, int(data["test_labels"][i, 0])] + row)
    print(f"wrote {out / 'model.safetensors'} and {out / 'torch_predictions.csv'}")


def compare(folder):
    folder = pathlib.Path(folder)
    def read(path):
        with open(path) as f:
            rows = list(csv.reader(f))[1:]
        return np.array([[float(v) for v in r[2:]] for r in rows]), [r[1] for r in rows]
    torch_p, torch_labels = read(folder / "torch_predictions.csv")
    galen_p, galen_labels = read(folder / "galen" / "predictions.csv")
    assert torch_labels == galen_labels, "the label columns differ"
    diff = np.abs(torch_p - galen_p)
    print(f"{len(torch_p)} test images: max |galen - torch| = {diff.max():.3g}, mean {diff.mean():.3g}; "
          f"same arg-max class for {np.mean(torch_p.argmax(1) == galen_p.argmax(1)) * 100:.2f}%")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="pneumoniamnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/torch-resnet")
    parser.add_argument("--compare", metavar="FOLDER")
    args = parser.parse_args()
    compare(args.compare) if args.compare else train(args)
