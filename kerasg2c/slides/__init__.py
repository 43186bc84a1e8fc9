"""Whole slides: reading any level of a slide (`reader`), writing pyramidal TIFFs
(`pyramid`), the tissue mask (`tissue`) and the tile grid (`tiling`). Import the module
you need; this package imports nothing."""
