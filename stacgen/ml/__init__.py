"""Machine learning on the catalog: aligned (image, label) chips by site split.

`Chips` is a map-style dataset for PyTorch (without importing torch); `classes` holds the class
schemes and `IGNORE_INDEX`.
"""

from stacgen.ml.chips import Chips
from stacgen.ml.classes import IGNORE_INDEX, SCHEMES
from stacgen.ml.errors import ChipsError

__all__ = ["IGNORE_INDEX", "SCHEMES", "Chips", "ChipsError"]
