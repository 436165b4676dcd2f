"""Converters from the published image-text data sets to retrieval shards:
``pedes.convert_pedes`` (CUHK-PEDES, ICFG-PEDES, RSTPReid) and ``cub.convert_cub``
(CUB-200-2011 with ``text_c10`` captions). Command line:
``python -m hmgray.data.formats cuhk-pedes|icfg-pedes|rstpreid|cub --help``."""
