"""The tables ``python -m benchmarks.worker`` prints (BENCHMARKS.md sections 2 and 3)."""

from __future__ import annotations


def batch_markdown(results: dict, batches: list[int]) -> str:
    lines = [
        f"worker engine {results['engine']}, torch threads {results['threads']}, "
        f"database {results['database'] or 'none'}; 1-min load average "
        f"{results['load_before']:.2f} before, {results['load_after']:.2f} after.",
        "",
        "| film | "
        + " | ".join(f"library, batch {n}" for n in batches)
        + " | "
        + " | ".join(f"task, batch {n}" for n in batches)
        + " | lone task at 1 | lone task at 8 | lone: added by batching |",
        "| --- |" + " ---: |" * (2 * len(batches) + 3),
    ]
    for f in results["films"]:
        m = f["median_ms"]
        cells = [m.get(f"library {n}") for n in batches] + [m.get(f"task {n}") for n in batches]
        cells += [m.get("lone at 1"), m.get("lone at 8"), m.get("lone extra")]
        text = " | ".join("-" if c is None else f"{c:.1f}" for c in cells)
        lines.append(f"| {f['film']} {f['size']} | {text} |")
    lines.append(
        "\nMedians, ms per screening (library: analyse_batch with Grad-CAM for the predicted "
        "class and COVID-19 + the batched lung check; task: one task claiming, analysing and "
        "storing N queued screenings, over N); lone: one screening alone, ms."
    )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    lines = [
        f"worker engine {results['engine']}, torch threads {results['threads']}, "
        f"database {results['database'] or 'none'}; "
        f"1-min load average {results['load_before']:.2f} before, {results['load_after']:.2f} "
        "after.",
        "",
        "| film | heatmaps | predict (eager) ms | predict (engine) ms | task ms | "
        "task / predict (engine) | task / predict (eager) | decode | analyse | analyse (before) | "
        "lungs | render | "
        "render (before) | PNG bytes (before) |",
        "| --- |" + " ---: |" * 13,
    ]
    for f in results["films"]:
        m, p = f["median_ms"], f["p95_ms"]

        def cell(key: str, m=m, p=p) -> str:
            return f"{m[key]:.1f} (p95 {p[key]:.1f})" if key in m else "-"

        ratio = f"{f['task_over_predict']:.2f}x" if "task_over_predict" in f else "-"
        ratio_eager = f"{f['task_over_eager']:.2f}x" if "task_over_eager" in f else "-"
        lines.append(
            f"| {f['film']} {f['size']} | {f['heatmaps']} | {cell('predict (eager)')} | "
            f"{cell('predict')} | {cell('task')} | {ratio} | {ratio_eager} | "
            f"{m['decode']:.1f} | {m['analyse']:.1f} | {m.get('analyse (before)', float('nan')):.1f} | "
            f"{m['lungs']:.1f} | {m['render']:.1f} | "
            f"{m.get('render (before)', float('nan')):.0f} | "
            f"{f['heatmap_bytes']['render']:,} ({f['heatmap_bytes']['render (before)']:,}) |"
        )
    lines.append("\nMedians over the repetitions (p95 in brackets); ms per screening.")
    return "\n".join(lines)
