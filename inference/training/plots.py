"""PNG plots for reports (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.constants import CLASSES, DISPLAY_NAMES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix: list[list[int]], path: Path, *, title: str) -> None:
    plt = _plt()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(m, cmap="Blues")
    names = [DISPLAY_NAMES[c] for c in CLASSES]
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            colour = "white" if m[i, j] > m.max() / 2 else "black"
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color=colour)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(y_true: np.ndarray, probs: np.ndarray, path: Path, *, title: str) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for i, name in enumerate(CLASSES):
        positives = y_true == i
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = roc_curve(positives, probs[:, i])
        auc = roc_auc_score(positives, probs[:, i])
        ax.plot(fpr, tpr, label=f"{DISPLAY_NAMES[name]} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_losses(histories: list[dict], path: Path) -> None:
    """One line pair (train, valid) per fold; ``histories`` hold per-epoch losses."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, h in enumerate(histories):
        epochs = np.arange(1, len(h["train_loss"]) + 1)
        ax.plot(epochs, h["train_loss"], color=f"C{k}", alpha=0.6, label=f"fold {k + 1} train")
        if h.get("valid_loss"):
            ax.plot(
                epochs, h["valid_loss"], color=f"C{k}", linestyle="--", label=f"fold {k + 1} valid"
            )
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Weighted cross-entropy")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
