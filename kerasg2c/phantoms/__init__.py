"""Synthetic data with known truth, one renderer per kind: glomerulus patches in four
stains (`glomeruli`), cells for InfoWGAN-GP (`cells`, with `cell_nuisance`), pyramidal
slides (`slides`), weakly labelled MIL tiles (`mil_tiles`) and H&E / Ki-67 twins (`ihc`).
Each writes a DATA_ROOT the real-data pipeline (`kerasg2c.data`) reads like any other.
Each records in its DATA_ROOT the generator name it was written under before this package
existed (`kerasg2c.data.<old module>`), so its files stay byte for byte what they were.
Import the module you need; this package imports nothing."""
