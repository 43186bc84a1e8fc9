"""Top-1 multiple-instance learning (Campanella et al. 2019; the IHC paper's "MIL for
Getting Class-Related Information"): `instances` cuts tiles and scores every instance,
`selection` picks each tile's top instance, `heatmap` draws instance scores."""
