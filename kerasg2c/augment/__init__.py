"""Synthetic augmentation: HistoGAN's selective augmentation (`selective`, Algorithm 1).
Import the module you need; this package imports nothing."""
