"""DarkCovidNet chest X-ray library: a plain Python package (no Django anywhere in it).

The surface the portal uses, and the only one (``screening/`` imports nothing else from here
but ``inference.constants``):

``inference.pipeline``
    ``intake(data, max_bytes=...) -> DecodedUpload``: decode PNG/JPEG/DICOM by content, run the
    chest X-ray gate, re-encode for storage (``png_bytes``, de-identified ``dicom_bytes``,
    ``notes``, ``quality_flags``); raises ``ImageDecodeError`` / ``NotAChestXray`` with a
    message for the person uploading. Torch-free (the web process never loads the model).

    ``load_predictor(path=None, device="auto") -> Predictor`` and
    ``Predictor.analyse(image, explain=("predicted", "covid")) -> Analysis``: probabilities,
    label, priority band, model version and Grad-CAM maps from one preprocessing and one
    forward pass. ``decode_stored(bytes)`` reads a stored image back; ``render_heatmap(heat,
    max_side=...)`` turns a map into the RGBA PNG the clinician's page overlays.

``inference.constants``
    The fixed class order and display names.

Layout by job:

- serving: ``pipeline`` (the entry point), ``predictor`` (``Predictor``), ``model``
  (DarkCovidNet), ``preprocessing`` (shared with training), ``metadata`` (the weights' JSON,
  checked in one place), ``gradcam``, ``geometry`` (torch-free crop geometry);
- intake: ``decode`` (PNG/JPEG, sniffing), ``dicom`` (reading, views) and ``dicom_pixels``,
  ``deidentify`` (PS3.15 basic profile), ``gate`` and ``gate_layout`` (is it a chest film?),
  ``intake_types`` (the error and record both ``decode`` and ``dicom`` use);
- training and evaluation: ``inference.training`` (``python -m inference.train`` /
  ``python -m inference.evaluate``); it may import serving and intake, never the reverse.
"""
