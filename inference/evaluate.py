"""``python -m inference.evaluate``: the evaluation command (``inference.training.evaluate``)."""

from inference.training.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main())
