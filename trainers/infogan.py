"""Renamed `trainers.infowgan` (the method is InfoWGAN-GP); this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "trainers.infowgan")
