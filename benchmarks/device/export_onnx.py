"""Export two small PyTorch models to ONNX and record torch's own FLOP count for each.

Run on the device machine (it has torch; CI does not):
    python benchmarks/device/export_onnx.py $OUT
Writes OUT/cnn.onnx, OUT/block.onnx and OUT/torch_flops.json; those files are committed under
tests/data/onnx/ so that tests/trace/test_importers.py checks, without torch, that archsim's
ONNX importer gives torch's FLOP count (issue 4 acceptance). Weights are random (seeded) and
the models small (< 1 MB each). FlopCounterMode counts matrix products and convolutions
(2 flops per MAC) and the attention products; nothing elementwise.
"""
import json
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


class Block(torch.nn.Module):
    """A pre-LN transformer encoder block: LN, QKV, SDPA, out-proj, residual, LN, MLP."""

    def __init__(self, d=64, heads=4, ffn=256):
        super().__init__()
        self.h = heads
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, ffn)
        self.fc2 = torch.nn.Linear(ffn, d)

    def forward(self, x):
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)
        q, k, v = (t.reshape(B, S, self.h, D // self.h).transpose(1, 2) for t in (q, k, v))
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.out(a.transpose(1, 2).reshape(B, S, D))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


def models():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(16 * 8 * 8, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 10)).eval()
    return {"cnn": (cnn, torch.zeros(2, 3, 16, 16)),
            "block": (Block().eval(), torch.zeros(2, 32, 64))}


def export(model, x, path):
    try:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17)
        return "torchscript"
    except Exception as first:  # noqa: BLE001
        try:
            torch.onnx.export(model, (x,), str(path), dynamo=True)
            return "dynamo"
        except Exception as second:  # noqa: BLE001
            raise RuntimeError(f"export failed: {first!r} / {second!r}")


def main(out: str) -> int:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"torch": torch.__version__, "models": {}}
    for name, (model, x) in models().items():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        exporter = export(model, x, out / f"{name}.onnx")
        record["models"][name] = {"file": f"{name}.onnx", "input_shape": list(x.shape),
                                  "torch_flops": counter.get_total_flops(),
                                  "by_op": {str(k): v for k, v in counter.get_flop_counts()
                                            .get("Global", {}).items()},
                                  "exporter": exporter}
        print(name, record["models"][name])
    (out / "torch_flops.json").write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
