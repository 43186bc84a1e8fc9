"""What the client sends: the image files it is given (directories searched) and their
pixels in the dtype a served model expects."""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def list_inputs(paths) -> list[str]:
    """Files as given, and the image files under each directory (sorted)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, files in sorted(os.walk(path)):
                found += [
                    os.path.join(root, f)
                    for f in sorted(files)
                    if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
                ]
        else:
            found.append(path)
    return found


def read_image(path: str, dtype: str) -> np.ndarray:
    """RGB pixels [H, W, 3] as the model expects them (uint8, or float32 in [0, 1]);
    ValueError naming the file if it is not a readable image."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from e
    return pixels if dtype == "uint8" else (pixels / 255.0).astype(np.float32)
