"""Fixed facts shared by training, export and serving."""

# Order of the model's output units. Never reorder: exported weights depend on it.
CLASSES: tuple[str, ...] = ("covid", "normal", "pneumonia")
DISPLAY_NAMES: dict[str, str] = {
    "covid": "COVID-19",
    "normal": "No finding",
    "pneumonia": "Pneumonia",
}
MODEL_NAME = "darkcovidnet"
