"""Benchmark the inference engines against each other and against the CPU's arithmetic floor.

    python -m inference.bench                       # all engines, batch 1/8/32, 1 and 2 threads
    python -m inference.bench --engines eager onnxruntime --batches 1 --threads 1 --rounds 5
    python -m inference.bench --json var/bench/engines.json

For every thread count and batch size, each engine is timed in ``--rounds`` short bursts taken in
turn (eager, folded, ..., eager, folded, ...), so that load from other processes on a shared
machine falls on all engines alike; read the ratios. A call's latency is what every image in the
batch waits; ms/image is that divided by the batch. Every engine's probabilities (softmax of the
logits over the model's temperature) are compared with eager's on the same inputs in the same run:
the check passes with max |difference| < ``TOLERANCE`` and the same label for every image.

The floor: the model's FLOPs per image (multiply-adds of the convolutions and the linear layer,
counted from the layer shapes and cross-checked with ``torch.utils.flop_counter``) over the best
float32 GFLOP/s of a 2048x2048 matmul at the same thread count.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from inference.engines import ENGINES, Engine, EngineUnavailable, engine_build

TOLERANCE = 1e-4
SAMPLES = Path(__file__).resolve().parent.parent / "tests" / "samples"


# --------------------------------------------------------------------------- inputs
def sample_images(n: int, folder: Path = SAMPLES) -> list[bytes]:
    """``n`` distinct radiographs: the repository's samples, then flipped / cropped / gamma-shifted
    copies of them (so the benchmark needs nothing outside the repository)."""
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no sample images in {folder}")
    bases = [Image.open(p).convert("L") for p in files]
    out: list[bytes] = []
    i = 0
    while len(out) < n:
        img = bases[i % len(bases)]
        k = i // len(bases)
        if k % 2:
            img = ImageOps.mirror(img)
        if k % 3:
            w, h = img.size
            c = 0.02 * (k % 3)
            img = img.crop((int(c * w), int(c * h), int((1 - c) * w), int((1 - c) * h)))
        if k % 4:
            gamma = 1.0 + 0.15 * ((k % 4) - 2)
            img = img.point(lambda v, g=gamma: round(255 * (v / 255) ** g))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
        i += 1
    return out


# --------------------------------------------------------------------------- FLOPs and peak
def count_flops(model: nn.Module, input_size: int, in_channels: int = 1) -> dict[str, float]:
    """FLOPs for one image (2 per multiply-add) of every Conv2d and Linear, from their shapes."""
    flops = {"conv": 0.0, "linear": 0.0}

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            per_out = module.in_channels // module.groups * kh * kw
            flops["conv"] += 2.0 * output[0].numel() * per_out
        elif isinstance(module, nn.Linear):
            flops["linear"] += 2.0 * module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, in_channels, input_size, input_size, device=_device(model)))
    finally:
        for h in handles:
            h.remove()
    total = flops["conv"] + flops["linear"]
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, in_channels, input_size, input_size, device=_device(model)))
    return {**flops, "total": total, "torch_flop_counter": float(counter.get_total_flops())}


def matmul_peak_gflops(*, n: int = 2048, repeats: int = 7, device: str = "cpu") -> float:
    """Best float32 GFLOP/s of an n x n matmul with the current torch thread count."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def sync() -> None:
        if a.is_cuda:
            torch.cuda.synchronize()

    torch.mm(a, b)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        sync()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best / 1e9


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------- timing
@dataclass
class Row:
    engine: str
    threads: int
    batch: int
    calls: int
    images_per_s: float
    p50_ms: float
    p95_ms: float
    ms_per_image: float
    max_abs_diff: float
    same_labels: bool
    first_call_s: float
    floor_fraction: float

    @property
    def passed(self) -> bool:
        return self.max_abs_diff < TOLERANCE and self.same_labels


def probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return torch.softmax(logits.float() / temperature, dim=1)


def burst(engine: Engine, x: torch.Tensor, seconds: float, min_calls: int) -> list[float]:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        engine(x)
        times.append(time.perf_counter() - t)
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def load_summary() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"
    except OSError:
        return "load average unknown"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(name: str, model: nn.Module, predictor, threads: int) -> Engine:
    if name == "compiled":
        torch._dynamo.reset()  # inductor bakes the thread count into the generated code
    return engine_build(
        name,
        model,
        threads=threads,
        input_size=predictor.input_size,
        in_channels=int(predictor.metadata.get("in_channels", 1)),
        spinning=True,  # a benchmark measures the engine, not the neighbours
    )


def run(args: argparse.Namespace) -> dict:
    from inference.predictor import Predictor

    predictor = Predictor.load(args.weights, device=args.device)
    model = predictor.model.eval()
    temperature = predictor.temperature
    biggest = max(args.batches)
    images = torch.stack([predictor.preprocess(b) for b in sample_images(biggest)])
    with torch.inference_mode():
        reference = probabilities(model(images.to(predictor.device)).cpu(), temperature)
    ref_labels = reference.argmax(dim=1)

    flops = count_flops(model, predictor.input_size, int(predictor.metadata.get("in_channels", 1)))
    report: dict = {
        "machine": {
            "cpu": cpu_name(),
            "logical_cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "load_before": load_summary(),
        },
        "model_version": predictor.model_version,
        "flops_per_image": flops,
        "peak_gflops": {},
        "rows": [],
        "unavailable": {},
    }
    try:
        import onnxruntime

        report["machine"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass

    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = matmul_peak_gflops(device=predictor.device.type)
        report["peak_gflops"][str(threads)] = peak
        floor_ms = flops["total"] / (peak * 1e9) * 1000
        engines: dict[str, Engine] = {}
        for name in args.engines:
            try:
                engines[name] = build(name, model, predictor, threads)
            except (EngineUnavailable, RuntimeError) as exc:
                report["unavailable"][name] = str(exc)[:300]
                print(f"  {name}: unavailable ({exc})", file=sys.stderr)
        for batch in args.batches:
            x = images[:batch].contiguous()
            first: dict[str, float] = {}
            diffs: dict[str, tuple[float, bool]] = {}
            for name, engine in list(engines.items()):
                t = time.perf_counter()
                try:
                    logits = engine(x)
                except Exception as exc:  # noqa: BLE001 - e.g. torch.compile failing here
                    report["unavailable"][name] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    print(f"  {name}: failed ({exc})", file=sys.stderr)
                    del engines[name]
                    continue
                first[name] = time.perf_counter() - t
                for _ in range(2):  # warm-up
                    engine(x)
                probs = probabilities(logits, temperature)
                diff = float((probs - reference[:batch]).abs().max())
                diffs[name] = (diff, bool(torch.equal(probs.argmax(dim=1), ref_labels[:batch])))
            samples: dict[str, list[float]] = {name: [] for name in engines}
            for _ in range(args.rounds):
                for name, engine in engines.items():
                    samples[name] += burst(engine, x, args.seconds, args.min_calls)
            for name, times in samples.items():
                total = sum(times)
                row = Row(
                    engine=name,
                    threads=threads,
                    batch=batch,
                    calls=len(times),
                    images_per_s=batch * len(times) / total,
                    p50_ms=percentile(times, 50) * 1000,
                    p95_ms=percentile(times, 95) * 1000,
                    ms_per_image=statistics.median(times) * 1000 / batch,
                    max_abs_diff=diffs[name][0],
                    same_labels=diffs[name][1],
                    first_call_s=first[name],
                    floor_fraction=floor_ms / (statistics.median(times) * 1000 / batch),
                )
                report["rows"].append(asdict(row) | {"passed": row.passed})
            print(f"threads {threads} batch {batch}: done ({load_summary()})", file=sys.stderr)
    report["machine"]["load_after"] = load_summary()
    return report


# --------------------------------------------------------------------------- output
def markdown(report: dict) -> str:
    f = report["flops_per_image"]
    lines = [
        f"Machine: {report['machine']['cpu']}, {report['machine']['logical_cpus']} logical CPUs; "
        f"torch {report['machine']['torch']}, onnxruntime "
        f"{report['machine'].get('onnxruntime', 'not installed')}; "
        f"{report['machine']['load_before']} before, {report['machine']['load_after']} after.",
        "",
        f"Model {report['model_version']}: {f['total'] / 1e9:.3f} GFLOP per image "
        f"(convolutions {f['conv'] / 1e9:.3f}, linear {f['linear'] / 1e6:.3f} MFLOP; "
        f"torch.utils.flop_counter: {f['torch_flop_counter'] / 1e9:.3f}).",
        "",
    ]
    for threads, peak in report["peak_gflops"].items():
        floor = f["total"] / (peak * 1e9) * 1000
        lines.append(
            f"- {threads} thread(s): 2048x2048 float32 matmul peak {peak:.0f} GFLOP/s "
            f"-> floor {floor:.2f} ms per image ({1000 / floor:.0f} images/s)"
        )
    lines += [
        "",
        "| threads | batch | engine | images/s | p50 ms/call | p95 ms/call | ms/image | "
        "vs eager | of floor | max abs diff | labels | first call s |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    eager = {
        (r["threads"], r["batch"]): r["images_per_s"]
        for r in report["rows"]
        if r["engine"] == "eager"
    }
    for r in report["rows"]:
        base = eager.get((r["threads"], r["batch"]))
        speed = f"{r['images_per_s'] / base:.2f}x" if base else "-"
        lines.append(
            f"| {r['threads']} | {r['batch']} | {r['engine']} | {r['images_per_s']:.0f} | "
            f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['ms_per_image']:.2f} | {speed} | "
            f"{r['floor_fraction'] * 100:.0f}% | {r['max_abs_diff']:.1e} | "
            f"{'same' if r['same_labels'] else 'DIFFERENT'} | {r['first_call_s']:.2f} |"
        )
    for name, why in report["unavailable"].items():
        lines.append(f"\n{name}: not measured ({why})")
    failed = [r for r in report["rows"] if not r["passed"]]
    lines.append(
        "\nParity: "
        + (
            f"every engine within {TOLERANCE:g} of eager with the same labels."
            if not failed
            else "FAILED for " + ", ".join(f"{r['engine']}@{r['batch']}" for r in failed)
        )
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved bursts per engine")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one burst")
    parser.add_argument("--min-calls", type=int, default=5, help="calls per burst at least")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped one)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    report = run(args)
    print(markdown(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if all(r["passed"] for r in report["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
