"""DarkCovidNet chest X-ray classifier: a plain library (no Django import anywhere in it).

Public surface used by the portal:

- ``inference.predictor.Predictor.load(path=None, device="auto")`` loads the shipped weights
  (``inference/weights/darkcovidnet.safetensors`` + ``.json`` metadata), verifies the sha256,
  and returns a predictor whose ``predict(image)`` takes bytes or a PIL image.
- ``inference.decode.ImageDecodeError`` is raised for anything that is not a readable image.
- ``inference.constants`` holds the fixed class order.
"""
