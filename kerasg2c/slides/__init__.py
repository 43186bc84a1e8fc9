"""Whole slides: reading any level of a slide (`reader`), writing pyramidal TIFFs
(`pyramid`), the tissue mask (`tissue`), the tile grid (`tiling`), and seamless translation
by a generator (`blending`, `instance_statistics`, `parts`, `translation`). Import the
module you need; this package imports nothing."""
