"""Classical stain handling and nucleus segmentation for cell-level (InfoWGAN-GP) data."""
