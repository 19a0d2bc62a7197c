"""``python -m benchmarks.intake`` runs end to end on small films and prints its table."""

from benchmarks import intake


def test_the_intake_benchmark_prints_one_row_per_film_with_the_stored_png_sizes(capsys):
    assert intake.main(["--repeat", "1", "--sizes", "300", "--levels", "1", "6"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("| covid", "| normal"))]
    assert len(rows) == 2
    level1, level6 = (int(c.replace(",", "")) for c in rows[0].strip(" |").split(" | ")[-2:])
    assert level1 >= level6 > 0  # the faster level never compresses better


def test_the_benchmarks_reference_trim_is_the_shipped_box():
    import numpy as np

    from inference.geometry import trim_box

    rng = np.random.default_rng(0)
    film = np.pad(rng.integers(0, 256, (80, 90), dtype=np.uint8), ((7, 3), (11, 2)))
    assert intake.trim_by_std(film) == trim_box(film) == (7, 87, 11, 101)
