"""A class-conditional source adversary (issue 9, twelfth session): training only.

Where each source gives mostly one class, a model can predict the class from the source's look
(scanner, processing, burnt-in text, journal layout). Here a small head tries to tell, **given
the true class**, which source a training film came from, from the network's pooled features;
a gradient-reversal layer between the two makes the network's features worse at that while the
head gets better (domain-adversarial training, Ganin et al. 2016; conditioned on the class, the
CDANN of Li et al. 2018, so that the class itself is not what is removed). Only the classifier
is kept: the saved fold models are plain ``DarkCovidNet`` state dicts, served like any other.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; the gradient flowing back is multiplied by ``-scale``."""
    return _ReverseGradient.apply(x, scale)


def adversary_scale(progress: float, *, weight: float) -> float:
    """DANN's ramp from 0 to ``weight`` over training (2 / (1 + exp(-10 p)) - 1): the head
    learns something before its reversed gradient reaches the network."""
    return weight * (2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0)


class SourceAdversary(nn.Module):
    """Wraps the classifier: ``forward`` returns its logits unchanged and keeps the pooled
    features of the last block for the loss. The head is part of this module so that the
    learner's optimiser trains it; ``net`` is what is saved."""

    def __init__(self, net: nn.Module, *, n_classes: int, n_sources: int, hidden: int = 128):
        super().__init__()
        self.net = net
        self.n_classes = n_classes
        self.n_sources = n_sources
        channels = net.head_conv[0].in_channels
        self.head = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, n_classes * n_sources),
        )
        self.scale = 0.0
        self.features: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.net.features(x)
        self.features = maps.mean(dim=(2, 3))
        return self.net.classifier(self.net.head_conv(maps))

    def source_loss(self, labels: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the source given the true class, through the reversed gradient."""
        logits = self.head(reverse_gradient(self.features, self.scale))
        logits = logits.view(-1, self.n_classes, self.n_sources)
        picked = logits[torch.arange(len(labels), device=labels.device), labels]
        return F.cross_entropy(picked.float(), sources)


class AdversarialLoss:
    """The class loss, plus (in training) the adversary's source loss. Called by fastai as
    ``loss(pred, labels, sources)``: the data loaders yield the film's source as a second target."""

    def __init__(self, model: SourceAdversary, class_loss):
        self.model = model
        self.class_loss = class_loss

    def __call__(self, pred, labels, sources=None):
        loss = self.class_loss(pred, labels)
        if sources is not None and self.model.training and self.model.features is not None:
            loss = loss + self.model.source_loss(labels.long(), sources.long())
        return loss


def scale_callback(model: SourceAdversary, *, weight: float):
    """A fastai callback that sets ``model``'s reversal scale from training progress each batch."""
    from fastai.callback.core import Callback

    class AdversaryScale(Callback):
        order = 0

        def before_batch(self):
            model.scale = adversary_scale(self.learn.pct_train, weight=weight)

    return AdversaryScale()


def with_adversary(model: nn.Module, class_loss, *, n_classes: int, n_sources: int, weight: float):
    """(the wrapped model, its loss, the callback that ramps the reversal) for one fit."""
    wrapped = SourceAdversary(model, n_classes=n_classes, n_sources=n_sources)
    return wrapped, AdversarialLoss(wrapped, class_loss), scale_callback(wrapped, weight=weight)
