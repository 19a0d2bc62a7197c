"""Fixed facts shared by training, export and serving."""

# Order of the model's output units. Never reorder: exported weights depend on it.
CLASSES: tuple[str, ...] = ("covid", "normal", "pneumonia")
DISPLAY_NAMES: dict[str, str] = {
    "covid": "COVID-19",
    "normal": "No finding",
    "pneumonia": "Pneumonia",
}
MODEL_NAME = "darkcovidnet"
# How a classifier's preprocessing uses the lung model (inference.lungs): crop to the lungs' box,
# or the same crop with everything outside the lung fields black.
LUNG_MODES: tuple[str, ...] = ("crop", "mask")
# What one input channel of a classifier shows (metadata ``preprocessing.inputs``): the whole film,
# or the film cut by the lung model in the classifier's lung mode. A one-channel model without the
# key reads "lungs" when its metadata names a lung model, else "film".
INPUTS: tuple[str, ...] = ("film", "lungs")
