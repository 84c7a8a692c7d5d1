"""The built-in preference aggregators, one file per method.

Each module defines one :class:`~pluralis.ranking.registry.Aggregator` (its name, label, kind,
options, plot and table settings, fit functions) and registers it with
:func:`~pluralis.ranking.registry.register_aggregator`. The registry imports every module of this
package on first use, so a new method is one new file here: the engine, the bootstrap, subgroups,
sensitivity analyses, plots and ``pluralis rank --method`` pick it up.

The fit functions are plain functions over numpy arrays (``choix`` style): ``*_from_counts`` on
win/tie count matrices (batched over any leading shape), and a convenience form on integer-coded
battles (``a``, ``b``, ``outcome``, ``n_models``).
"""
