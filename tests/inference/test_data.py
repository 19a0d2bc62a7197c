import numpy as np
import pytest

from inference.training.data import DataFolderError, grouped_folds, read_folder, read_folders


def make_folder(root, rows, *, with_source):
    header = "path,label,group,source" if with_source else "path,label,group"
    lines = [header]
    for path, label, group, source in rows:
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"x")
        lines.append(",".join([path, label, group] + ([source] if with_source else [])))
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def two_folders(tmp_path):
    a = make_folder(
        tmp_path / "cxr3",
        [
            (f"{lab}/{i}.jpg", lab, f"p{i % 7}", None)
            for lab in ("covid", "normal", "pneumonia")
            for i in range(20)
        ],
        with_source=False,
    )
    b = make_folder(
        tmp_path / "multi",
        [
            (f"{lab}/m{i}.jpg", lab, f"p{i % 5}", src)
            for lab, src in (("covid", "hannover"), ("normal", "openist"), ("pneumonia", "paeds"))
            for i in range(15)
        ],
        with_source=True,
    )
    return a, b


def test_several_folders_keep_their_sources_and_groups(two_folders):
    records = read_folders(list(two_folders))
    assert len(records) == 60 + 45
    sources = {(r.label, r.source) for r in records}
    assert ("covid", "ieee8023-figures") in sources and ("normal", "nih") in sources
    assert ("covid", "hannover") in sources and ("pneumonia", "paeds") in sources
    # Same group name in two data sets is two different patients.
    assert {r.group for r in records if r.group.endswith(":p1")} == {"cxr3:p1", "multi:p1"}


def test_no_group_is_ever_on_both_sides_of_a_split(two_folders):
    records = read_folders(list(two_folders))
    folds = grouped_folds(records, n_folds=5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(records)))
    for valid in folds:
        train = np.setdiff1d(np.arange(len(records)), valid)
        assert not {records[i].group for i in train} & {records[i].group for i in valid}


def test_a_folder_without_images_is_a_clear_error(tmp_path):
    with pytest.raises(DataFolderError, match="no images"):
        read_folder(tmp_path)
