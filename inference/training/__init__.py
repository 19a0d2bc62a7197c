"""Training and evaluation of the model library (never imported by the portal).

- ``cli``: ``python -m inference.train`` (arguments, then CV / final fit / export)
- ``loop``: data loaders, augmentation presets, one fastai fit, prediction of cached arrays
- ``cv``: folds (grouped, image-level, source-grouped), fold jobs, the CV run, leave-one-source-out
- ``report``: metrics over folds, calibration and triage bands, held-out sources, Markdown
- ``data``, ``augment``, ``plots``: data folders, extra augmentations, figures
- ``lungs``: training the lung-field U-Net that ``inference.lungs`` serves
- ``evaluate``, ``gate_eval``, ``source_probe``: the evaluation command-line tools
"""
