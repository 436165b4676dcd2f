"""Why does a trained HMG-Net predict the depreciation it does?

* ``gradients``: gradient x input and integrated gradients of delta w.r.t. pixels and words;
* ``occlusion``: delta change when an image region is masked ("the case raises
  depreciation by 3.1% of the MSRP");
* ``market``: the same listing re-placed at every location x period of the market graph;
* ``localization``: mass share in a known box, pointing game, random / body baselines;
* ``render``: PNG figures; ``report``: all of it for one split; ``inprocess``: the model
  under explanation, trained in this process with ``hmgray.training.loop``.

Used by ``experiments/depreciation_attribution.py``. Importing the package imports
nothing heavy; import the submodules.
"""
