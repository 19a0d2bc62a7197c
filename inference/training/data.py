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
from inference.preprocessing import MARGIN, to_model_array

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# cxr3 has no source column: its classes each come from one archive (README of cxr3).
IMPLICIT_SOURCES = {"covid": "ieee8023-figures", "normal": "nih", "pneumonia": "nih"}
# Sources split by patient group across the folds; every other source is held out whole.
GROUP_SPLIT_SOURCES = frozenset(IMPLICIT_SOURCES.values())
# cxr-cases reuses cxr3's group id where the patient is in cxr3 (its README): such groups get
# cxr3's prefix so that a split by group over both sets keeps the patient on one side.
SHARED_GROUPS = {"cxr-cases": "cxr3"}


class DataFolderError(ValueError):
    """A data folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class Record:
    path: Path
    label: str
    group: str
    source: str
    view: str = ""  # AP / PA where known (NIH's metadata; ``with_views``)


def with_views(records: list[Record], views_csv: Path) -> list[Record]:
    """Attach NIH's view position (``Data_Entry_2017_v2020.csv.gz``, shipped in the
    torchxrayvision wheel) to the NIH films, matched by their image index (the file name)."""
    import gzip
    from dataclasses import replace

    with gzip.open(views_csv, "rt", newline="") as fh:
        views = {Path(r["Image Index"]).stem: r["View Position"] for r in csv.DictReader(fh)}
    return [
        replace(r, view=views.get(r.path.stem, "")) if r.source == "nih" else r for r in records
    ]


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
    return share_groups(records)


def share_groups(records: list[Record]) -> list[Record]:
    """Give a group id that a folder shares with another (``SHARED_GROUPS``) the other's prefix."""
    from dataclasses import replace

    known = {r.group for r in records}
    out = []
    for r in records:
        prefix, _, raw = r.group.partition(":")
        owner = SHARED_GROUPS.get(prefix)
        if owner and f"{owner}:{raw}" in known:
            r = replace(r, group=f"{owner}:{raw}")
        out.append(r)
    return out


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


def assign_sources_to_folds(records: list[Record], *, n_folds: int) -> dict[str, int]:
    """Each held-out source goes whole into one fold, greedily balancing every class's share.

    Largest source first, into the fold where the sum over classes of (the fold's share of that
    class)^2 grows least: the big single-class sources spread out, and every fold ends up with
    some COVID-19 and some non-COVID films held out. Deterministic (ties: lower fold, name).
    """
    sources = sorted({r.source for r in records if r.source not in GROUP_SPLIT_SOURCES})
    counts = {s: np.zeros(len(CLASSES)) for s in sources}
    for r in records:
        if r.source in counts:
            counts[r.source][CLASSES.index(r.label)] += 1
    total = np.maximum(sum(counts.values(), np.zeros(len(CLASSES))), 1)
    load = np.zeros((n_folds, len(CLASSES)))
    assignment: dict[str, int] = {}
    for s in sorted(sources, key=lambda s: (-counts[s].sum(), s)):
        cost = [
            (((load[f] + counts[s]) / total) ** 2).sum() - ((load[f] / total) ** 2).sum()
            for f in range(n_folds)
        ]
        f = int(np.argmin(cost))
        assignment[s] = f
        load[f] += counts[s]
    return assignment


def source_grouped_folds(
    records: list[Record], *, n_folds: int, seed: int
) -> tuple[list[np.ndarray], dict[str, int]]:
    """Folds over several data sets: cxr3's sources split by group exactly as ``grouped_folds``
    does on cxr3 alone, every other source held out whole in one fold.

    A film whose group also occurs in a group-split source (cxr-cases films of cxr3 patients)
    gets no fold: it would otherwise put one patient on both sides. Returns the validation
    indices per fold and the source -> fold assignment.
    """
    split_idx = [i for i, r in enumerate(records) if r.source in GROUP_SPLIT_SOURCES]
    split_groups = {records[i].group for i in split_idx}
    fold_of = np.full(len(records), -1)
    if split_idx:
        sub = [records[i] for i in split_idx]
        for k, valid in enumerate(grouped_folds(sub, n_folds=n_folds, seed=seed)):
            fold_of[np.array(split_idx)[valid]] = k
    assignment = assign_sources_to_folds(records, n_folds=n_folds)
    for i, r in enumerate(records):
        if r.source in assignment and r.group not in split_groups:
            fold_of[i] = assignment[r.source]
    return [np.flatnonzero(fold_of == k) for k in range(n_folds)], assignment


def load_arrays(
    records: list[Record],
    *,
    size: int,
    margin: float = MARGIN,
    equalize: str = "global",
    lungs=None,
) -> np.ndarray:
    """Deterministic preprocessing of every image, once: [N, size, size] uint8.

    ``lungs`` (an ``inference.lungs.LungFinder``): crop each film to its lungs' box first, as
    serving does for a model whose metadata names the lung model.
    """
    out = np.empty((len(records), size, size), dtype=np.uint8)
    for i, r in enumerate(records):
        out[i] = to_model_array(
            r.path.read_bytes(), size=size, margin=margin, equalize=equalize, lungs=lungs
        )
    return out


def limit_records(records: list[Record], limit: int) -> list[Record]:
    if not limit:
        return records
    # Per (source, class): on cxr3 that is per class; on several sets every source keeps some.
    kept, seen = [], {}
    for r in records:
        if seen.get((r.source, r.label), 0) < limit:
            kept.append(r)
            seen[(r.source, r.label)] = seen.get((r.source, r.label), 0) + 1
    return kept
