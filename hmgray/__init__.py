"""hmgray: fair, reproducible ablation studies of multi-granularity multimodal models on Ray.

Importing the package has no side effects (no ``ray.init``, no argument parsing).
"""

__version__ = "0.1.0"
