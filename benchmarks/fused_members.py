"""Would the shipped ensemble run faster as one network of grouped convolutions? (issue 14)

    python -m benchmarks.fused_members [--weights W] [--batch 3] [--repeat 20]

The shipped model runs its members side by side (``DarkCovidNetEnsemble``: each member's
layers in turn). Fused, the members become one network: every convolution (BatchNorm folded
in) of all members one grouped convolution, the first one reading each member's input channel,
the linear layers one batched product; the same numbers (checked here) from a tenth of the
operators. This script builds that network from the shipped weights and times both, in torch
and through ONNX Runtime, one thread, interleaved. A measurement, not a serving engine: the
result (BENCHMARKS.md, section 1, fifth session) is that fusing does not pay on this CPU.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn


class FusedLinear(nn.Module):
    """Each member's linear layer on its own share of the features, as one batched product."""

    def __init__(self, linears: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([lin.weight for lin in linears]).detach())
        self.bias = nn.Parameter(torch.stack([lin.bias for lin in linears]).detach())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        flat = h.reshape(h.shape[0], self.weight.shape[0], -1)  # [n, members, features]
        out = torch.einsum("nkf,kcf->nkc", flat, self.weight) + self.bias
        return out.reshape(h.shape[0], -1)


def fused_conv(convs: list[nn.Conv2d], inputs: list[int] | None) -> nn.Conv2d:
    """The members' convolutions as one: the first reads member k's input channel, the others
    are grouped (member k's channels only)."""
    c0, k = convs[0], len(convs)
    first = inputs is not None
    channels = max(inputs) + 1 if first else k * c0.in_channels
    conv = nn.Conv2d(
        channels,
        k * c0.out_channels,
        c0.kernel_size,
        c0.stride,
        c0.padding,
        groups=1 if first else k,
    )
    if first:
        weight = torch.zeros(k * c0.out_channels, channels, *c0.kernel_size)
        for j, (c, i) in enumerate(zip(convs, inputs, strict=True)):
            weight[j * c0.out_channels : (j + 1) * c0.out_channels, i] = c.weight[:, 0]
    else:
        weight = torch.cat([c.weight for c in convs])
    conv.weight.data = weight.detach().clone()
    conv.bias.data = torch.cat([c.bias for c in convs]).detach().clone()
    return conv


def fused_sequence(parts: list[nn.Module], state: dict) -> nn.Sequential:
    out = []
    for layer in zip(*[list(p.children()) for p in parts], strict=True):
        if isinstance(layer[0], nn.Sequential):
            out.append(fused_sequence(list(layer), state))
        elif isinstance(layer[0], nn.Conv2d):
            out.append(fused_conv(list(layer), state.pop("inputs", None)))
        elif not isinstance(layer[0], nn.Identity):  # LeakyReLU, MaxPool: the same on all
            out.append(copy.deepcopy(layer[0]))
    return nn.Sequential(*out)


class FusedEnsemble(nn.Module):
    def __init__(self, ensemble) -> None:
        super().__init__()
        from inference.engines import fold_batchnorm

        members = [fold_batchnorm(m) for m in ensemble.members]
        state = {"inputs": list(ensemble.member_inputs or [0] * len(members))}
        self.features = fused_sequence([m.features for m in members], state)
        self.head_conv = fused_sequence([m.head_conv for m in members], state)
        combine = copy.deepcopy(ensemble.classifier[1])
        self.classifier = nn.Sequential(FusedLinear([m.classifier[1] for m in members]), combine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_conv(self.features(x)))


def session(model: nn.Module, *, size: int, channels: int):
    import onnxruntime as ort

    from inference.engines import onnx_export

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = onnx_export(model, input_size=size, in_channels=channels)
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    from inference.engines import fold_batchnorm
    from inference.predictor import Predictor

    p = argparse.ArgumentParser(prog="python -m benchmarks.fused_members")
    p.add_argument("--weights", default=None)
    p.add_argument("--batch", type=int, default=3, help="3: one film and its two views")
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    predictor = Predictor.load(args.weights, device="cpu")
    size, channels = predictor.input_size, len(predictor.inputs)
    x = torch.randn(args.batch, channels, size, size)
    runs = {"side by side (folded)": fold_batchnorm(predictor.model), "fused": None}
    runs["fused"] = FusedEnsemble(predictor.model).eval()
    with torch.inference_mode():
        diff = (runs["fused"](x) - predictor.model(x)).abs().max().item()
    sessions = {name: session(m, size=size, channels=channels) for name, m in runs.items()}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat + 1):  # interleaved; the first round is a warm-up
        for name, model in runs.items():
            for how, call in (
                ("torch", lambda m=model: m(x)),
                ("onnxruntime", lambda s=sessions[name]: s.run(None, {"x": x.numpy()})),
            ):
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    call()
                times.setdefault((name, how), []).append(time.perf_counter() - t0)
    print(f"{predictor.model_version}, batch {args.batch} x {channels} x {size}^2, one thread")
    print(f"fused vs side by side: max |difference| of the outputs {diff:.1e}\n")
    print("| members | torch ms (p95) | onnxruntime ms (p95) |\n| --- | ---: | ---: |")
    for name in runs:
        cells = [
            f"{1000 * np.median(v[1:]):.1f} ({1000 * np.percentile(v[1:], 95):.1f})"
            for v in (times[(name, "torch")], times[(name, "onnxruntime")])
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
