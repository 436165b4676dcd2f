"""Depreciation attribution: why does HMG-Net think an item lost value, and where?

    python experiments/depreciation_attribution.py                # <= 15 min on 2 cores
    python experiments/depreciation_attribution.py --smoke-test   # well under a minute
    python experiments/depreciation_attribution.py --data data/craigslist --storage s3://b/runs

It trains the ``full`` arm in this process and explains its depreciation delta
(gradients, occlusion, the market, defect localisation against baselines); the command
and what it writes are documented in ``hmgray.families.valuation.explain.attribution``.
"""

import sys

from hmgray.families.valuation.explain.attribution import main

if __name__ == "__main__":
    sys.exit(main())
