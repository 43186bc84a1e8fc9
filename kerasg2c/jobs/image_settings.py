"""The image settings a run derives from its config, resolved once per run (and per stage)
by the run context (`RunContext.images`), so that the jobs read one value instead of
deriving it again where they use it.

Code that has only a config (a config check, a model builder, a tool reading an older
run's `config.json`) keeps calling `shared_config.image_shape`.
"""

import dataclasses

from kerasg2c.data import image_source
from kerasg2c.jobs import shared_config


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """Attributes:
    shape: (height, width) images are resized to (`shared_config.image_shape`:
      `data.image_height` × `data.image_size`, square when image_height is 0).
    cache_budget_bytes: `data.cache_budget_gb` in bytes, the memory decoded images may
      take when a split keeps them.
    """

    shape: tuple[int, int]
    cache_budget_bytes: int

    @classmethod
    def from_config(cls, config) -> "ImageSettings":
        """The settings of a run's (or a stage's) config.

        Args:
          config: a ConfigDict with the shared `data.*` keys.

        Examples:
          >>> from kerasg2c.jobs import shared_config
          >>> config = shared_config.base_config()
          >>> config.data.image_size, config.data.image_height = 64, 32
          >>> ImageSettings.from_config(config).shape
          (32, 64)
        """
        return cls(
            shape=shared_config.image_shape(config),
            cache_budget_bytes=int(config.data.cache_budget_gb * 2**30),
        )

    def use_cache(self, split) -> bool:
        """Whether `split`'s decoded images fit in the cache budget (the one cache rule of
        every job).

        Args:
          split: a labeled split (anything with a length).

        Examples:
          >>> ImageSettings((64, 64), 2**20).use_cache(range(85))  # 85 · 64 · 64 · 3 B
          True
          >>> ImageSettings((64, 64), 2**20).use_cache(range(86))
          False
        """
        return image_source.fits_in_memory(len(split), self.shape, self.cache_budget_bytes)
