"""Ways to run DarkCovidNet's forward pass, all from the same loaded ``nn.Module`` (no Django).

    engine = engine_build("onnxruntime", model, threads=1)
    logits = engine(batch)       # float32 [n, n_classes] on the CPU; batch: [n, 1, s, s] normalised
    engine.version               # "onnxruntime-1.32.0", recorded beside the model version

Engines (``ENGINES``), each checked against ``eager`` by ``python -m inference.bench``:

- ``eager``: the module as trained, ``torch.inference_mode``.
- ``folded``: every BatchNorm folded into the convolution before it (a copy; the original
  module is untouched, Grad-CAM keeps using it).
- ``channels_last``: ``folded`` with NHWC weights and inputs (oneDNN's preferred layout).
- ``compiled``: ``torch.compile`` (inductor, C++ code generated at first call per batch shape;
  tens of seconds on this machine, so a benchmark engine, not a worker default).
- ``onnxruntime``: ONNX Runtime on a graph exported from the module at build time.

Why export at build time instead of shipping an ``.onnx`` file: the safetensors file stays the
single source of the weights (its sha256 is what the metadata, the model card and every stored
Prediction refer to), so an ``.onnx`` file can never drift from it. The export (~7 s under load)
is cached in ``cache_dir`` under a name that contains the weights' sha256 and the exporter's
versions, written atomically, so a recycled worker process loads it in milliseconds; a cache file
that does not parse is rebuilt.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

ENGINES = ("eager", "folded", "channels_last", "compiled", "onnxruntime")
# What the worker uses when asked for "auto": the fastest engine that passed the parity check
# in BENCHMARKS.md, if its library is installed; else plain torch.
AUTO_ORDER = ("onnxruntime", "folded")
ONNX_OPSET = 18


class EngineUnavailable(RuntimeError):
    """The engine's library is missing or could not build the model; use another engine."""


Picker = Sequence[int] | Callable[[torch.Tensor], Sequence[int]]


@dataclass
class Engine:
    """A callable forward pass: normalised float32 batch in, float32 logits (CPU) out.

    ``features(batch)`` returns the output of ``model.features`` (the block Grad-CAM hooks) and
    the logits of the same pass; ``explain`` builds Grad-CAM on them (see ``engine_explain``).
    """

    name: str
    version: str
    run: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    threads: int | None = None
    features: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = field(
        default=None, repr=False
    )
    model: nn.Module | None = field(default=None, repr=False)  # the original, for the head

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.run(batch)

    def explain(
        self, x: torch.Tensor, class_indices: Picker
    ) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
        """Logits [1, n] and Grad-CAM maps, as ``gradcam.gradcam_pass`` returns them."""
        return engine_explain(self, x, class_indices)


def engine_explain(
    engine: Engine, x: torch.Tensor, class_indices: Picker
) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
    """Grad-CAM without an autograd-recording pass through the whole network.

    The gradient Grad-CAM needs (d logit / d A, A = ``model.features``' output) flows only
    through ``head_conv`` and the classifier. So the engine computes A and the logits without
    autograd, and the small head (one 3x3 conv 256 -> 3 and a linear layer) runs again in torch
    with autograd on a copy of A: the maps of ``gradcam_pass`` (the tests compare them) at the
    engine's speed.
    """
    from inference.gradcam import _cam

    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be [1, C, H, W], got {tuple(x.shape)}")
    if engine.features is None or engine.model is None:
        raise EngineUnavailable(f"the {engine.name} engine cannot explain")
    activations, logits = engine.features(x)
    model = engine.model
    with torch.inference_mode(False), torch.enable_grad():
        device = next(model.parameters()).device
        a = activations.detach().clone().to(device).requires_grad_(True)
        head_logits = model.classifier(model.head_conv(a))
        chosen = class_indices(logits) if callable(class_indices) else class_indices
        indices = list(dict.fromkeys(int(i) for i in chosen))
        maps = {
            index: _cam(head_logits, a, index, x.shape[-2:], retain=n < len(indices) - 1)
            for n, index in enumerate(indices)
        }
    return logits, maps


# --------------------------------------------------------------------------- torch engines
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with each Conv2d -> BatchNorm2d pair merged into one conv.

    y = gamma * (W x - mean) / sqrt(var + eps) + beta  ==  W' x + b'  with
    W' = W * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
    return folded


def _torch_runner(
    module: nn.Module, device: torch.device, *, channels_last: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = batch.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return module(x).float().cpu()

    return run


def _torch_features(
    module: nn.Module, device: torch.device, *, channels_last: bool = False
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    def features(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():  # not inference_mode: the head runs again on a copy, with autograd
            x = batch.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            a = module.features(x)
            logits = module.classifier(module.head_conv(a))
            return a.contiguous().float(), logits.float().cpu()

    return features


class _FeaturesAndLogits(nn.Module):
    """What the ONNX graph returns: the Grad-CAM block's output and the logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.model.features(x)
        return a, self.model.classifier(self.model.head_conv(a))


def _module_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------- ONNX
def onnx_export(model: nn.Module, *, input_size: int, in_channels: int = 1) -> bytes:
    """The module as an ONNX graph (opset ``ONNX_OPSET``) with a dynamic batch dimension."""
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as exc:
        raise EngineUnavailable(f"ONNX export needs onnx and onnxscript: {exc}") from exc
    module = _FeaturesAndLogits(copy.deepcopy(model).cpu().eval()).eval()
    example = torch.zeros(2, in_channels, input_size, input_size)
    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        input_names=["x"],
        output_names=["features", "logits"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}},
        opset_version=ONNX_OPSET,
        verbose=False,
    )
    return program.model_proto.SerializeToString()


def onnx_cache_name(weights_sha256: str) -> str:
    """Cache file name: changes with the weights and with every library that shapes the graph."""
    import onnx

    tag = f"{torch.__version__}|{onnx.__version__}|{ONNX_OPSET}"
    return f"darkcovidnet-{weights_sha256[:16]}-{hashlib.sha256(tag.encode()).hexdigest()[:8]}.onnx"


def onnx_model_bytes(
    model: nn.Module,
    *,
    input_size: int,
    in_channels: int = 1,
    weights_sha256: str | None = None,
    cache_dir: Path | str | None = None,
) -> bytes:
    """The exported graph, from ``cache_dir`` when a file for these weights is there."""
    if cache_dir is None or not weights_sha256:
        return onnx_export(model, input_size=input_size, in_channels=in_channels)
    import onnx

    path = Path(cache_dir) / onnx_cache_name(weights_sha256)
    if path.is_file():
        data = path.read_bytes()
        try:
            onnx.load_model_from_string(data)
            return data
        except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt, never trusted
            logger.warning("ONNX cache %s does not parse; exporting again", path.name)
    data = onnx_export(model, input_size=input_size, in_channels=in_channels)
    try:
        write_atomically(path, data)
    except OSError as exc:  # a read-only or full disk costs the next start an export, no more
        logger.warning("ONNX cache %s not written: %s", path, exc)
    return data


def write_atomically(path: Path, data: bytes) -> None:
    """Two worker processes starting together never read a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".onnx-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def onnxruntime_session(graph: bytes | str, *, threads: int | None, spinning: bool = False):
    """An ONNX Runtime CPU session for a graph (bytes or a path) as the worker runs it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    # Idle threads busy-waiting steal a small machine's CPU: off unless asked.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


def _onnxruntime_engine(
    model: nn.Module,
    *,
    threads: int | None,
    input_size: int,
    in_channels: int,
    weights_sha256: str | None,
    cache_dir: Path | str | None,
    spinning: bool,
) -> Engine:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EngineUnavailable(f"onnxruntime is not installed: {exc}") from exc
    data = onnx_model_bytes(
        model,
        input_size=input_size,
        in_channels=in_channels,
        weights_sha256=weights_sha256,
        cache_dir=cache_dir,
    )
    session = onnxruntime_session(data, threads=threads, spinning=spinning)

    def run(batch: torch.Tensor) -> torch.Tensor:
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        (logits,) = session.run(["logits"], {"x": x})
        return torch.from_numpy(logits)

    def features(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        a, logits = session.run(["features", "logits"], {"x": x})
        return torch.from_numpy(a), torch.from_numpy(logits)

    return Engine(
        name="onnxruntime",
        version=f"onnxruntime-{ort.__version__}",
        run=run,
        threads=threads,
        features=features,
        model=model,
    )


# --------------------------------------------------------------------------- factory
def engine_build(
    name: str,
    model: nn.Module,
    *,
    threads: int | None = None,
    input_size: int | None = None,
    in_channels: int | None = None,
    weights_sha256: str | None = None,
    cache_dir: Path | str | None = None,
    spinning: bool = False,
) -> Engine:
    """Build engine ``name`` (one of ``ENGINES``, or ``"auto"``) around the loaded ``model``.

    ``threads`` is ONNX Runtime's intra-op thread count; torch engines follow the process-wide
    ``torch.set_num_threads`` (the caller's choice). Raises ``EngineUnavailable`` when the
    engine cannot be built here; ``"auto"`` then falls back along ``AUTO_ORDER`` to ``eager``.
    """
    if name == "auto":
        for candidate in AUTO_ORDER:
            try:
                return engine_build(
                    candidate,
                    model,
                    threads=threads,
                    input_size=input_size,
                    in_channels=in_channels,
                    weights_sha256=weights_sha256,
                    cache_dir=cache_dir,
                    spinning=spinning,
                )
            except EngineUnavailable as exc:
                logger.warning(
                    "inference engine %s unavailable (%s); trying the next", candidate, exc
                )
        name = "eager"
    if name not in ENGINES:
        raise ValueError(f"engine must be auto or one of {', '.join(ENGINES)}, not {name!r}")
    model.eval()
    device = _module_device(model)
    size = int(input_size or getattr(model, "input_size", 256))
    channels = int(in_channels or getattr(model, "in_channels", 1))
    torch_version = f"torch-{torch.__version__.split('+')[0]}"
    if name == "eager":
        return Engine(
            "eager",
            torch_version,
            _torch_runner(model, device),
            threads,
            features=_torch_features(model, device),
            model=model,
        )
    if name == "onnxruntime":
        if device.type != "cpu":
            raise EngineUnavailable("the onnxruntime engine runs on the CPU only here")
        try:
            return _onnxruntime_engine(
                model,
                threads=threads,
                input_size=size,
                in_channels=channels,
                weights_sha256=weights_sha256,
                cache_dir=cache_dir,
                spinning=spinning,
            )
        except EngineUnavailable:
            raise
        except Exception as exc:  # export or session errors: the caller falls back to torch
            raise EngineUnavailable(f"onnxruntime could not load the model: {exc}") from exc
    folded = fold_batchnorm(model)
    if name == "folded":
        return Engine(
            "folded",
            f"{torch_version}-folded",
            _torch_runner(folded, device),
            threads,
            features=_torch_features(folded, device),
            model=model,
        )
    if name == "channels_last":
        folded = folded.to(memory_format=torch.channels_last)
        return Engine(
            "channels_last",
            f"{torch_version}-folded-nhwc",
            _torch_runner(folded, device, channels_last=True),
            threads,
            features=_torch_features(folded, device, channels_last=True),
            model=model,
        )
    compiled = torch.compile(folded, dynamic=False)
    return Engine("compiled", f"{torch_version}-inductor", _torch_runner(compiled, device), threads)
