"""Renamed `trainers.infowgan_map`; this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "trainers.infowgan_map")
