"""Data sets on disk -> one table of images with label, source and patient group.

A data folder holds ``covid/ normal/ pneumonia/`` (any subset) and optionally ``manifest.csv``
with ``path,label,group[,source]``. Without a manifest every image is its own group. Groups are
prefixed with the folder's name so two data sets can never share a group by accident.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.constants import CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# cxr3 has no source column: its classes each come from one archive (README of cxr3).
IMPLICIT_SOURCES = {"covid": "ieee8023-figures", "normal": "nih", "pneumonia": "nih"}


class DataFolderError(ValueError):
    """A data folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class Record:
    path: Path
    label: str
    group: str
    source: str


def read_folder(root: Path | str) -> list[Record]:
    root = Path(root)
    if not root.is_dir():
        raise DataFolderError(f"{root} is not a folder")
    manifest = root / "manifest.csv"
    prefix = root.resolve().name
    records: list[Record] = []
    if manifest.exists():
        with manifest.open(newline="") as fh:
            for row in csv.DictReader(fh):
                label = row["label"]
                if label not in CLASSES:
                    continue
                source = row.get("source") or IMPLICIT_SOURCES.get(label, prefix)
                records.append(
                    Record(
                        path=root / row["path"],
                        label=label,
                        group=f"{prefix}:{row.get('group') or row['path']}",
                        source=source,
                    )
                )
    else:
        for label in CLASSES:
            folder = root / label
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    records.append(
                        Record(path=path, label=label, group=f"{prefix}:{path}", source=prefix)
                    )
    if not records:
        raise DataFolderError(f"{root} holds no images in sub-folders named {', '.join(CLASSES)}")
    missing = [r.path for r in records if not r.path.exists()]
    if missing:
        raise DataFolderError(
            f"{len(missing)} files listed in {manifest} are missing, e.g. {missing[0]}"
        )
    return records


def read_folders(roots: list[Path | str]) -> list[Record]:
    records: list[Record] = []
    for root in roots:
        records.extend(read_folder(root))
    return records


def manifest_sha256(roots: list[Path | str]) -> dict[str, str]:
    """sha256 of each folder's manifest (or of its sorted file list when it has none)."""
    out = {}
    for root in roots:
        root = Path(root)
        manifest = root / "manifest.csv"
        if manifest.exists():
            out[str(root)] = hashlib.sha256(manifest.read_bytes()).hexdigest()
        else:
            listing = "\n".join(sorted(str(p.relative_to(root)) for p in root.rglob("*")))
            out[str(root)] = hashlib.sha256(listing.encode()).hexdigest()
    return out


def label_source_strata(records: list[Record]) -> list[str]:
    """Folds keep every (class, source) pair in proportion."""
    return [f"{r.label}|{r.source}" for r in records]


def grouped_folds(records: list[Record], *, n_folds: int, seed: int) -> list[np.ndarray]:
    """Validation indices of each fold: stratified by label and source, never splitting a group."""
    from sklearn.model_selection import StratifiedGroupKFold

    strata = label_source_strata(records)
    groups = [r.group for r in records]
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [valid for _, valid in splitter.split(np.zeros(len(records)), strata, groups)]


def image_folds(records: list[Record], *, n_folds: int, seed: int) -> list[np.ndarray]:
    """Validation indices of each fold split by image, ignoring patients: the published
    DarkCovidNet protocol. Only for measuring how much patient leakage inflates accuracy."""
    from sklearn.model_selection import StratifiedKFold

    strata = label_source_strata(records)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [valid for _, valid in splitter.split(np.zeros(len(records)), strata)]
