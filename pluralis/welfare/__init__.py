"""Welfare of populations under seat-of-power sampling schemes (PRISM §3.3, App. U).

- :mod:`pluralis.welfare.schemes`: groups, sampling schemes, populations, the analysis sample;
  ``resolve`` turns them into participants.
- :mod:`pluralis.welfare.draws`: individual welfare matrices and the draw engines (vectorised,
  and the reference loop that reproduces PRISM's notebook draw by draw).
- :mod:`pluralis.welfare.summaries`: population welfare, welfare tables, FOSD, ``WelfareResult``.
- :mod:`pluralis.welfare.engine`: ``run_welfare`` (resolve -> draw -> summarise) and its ``WelfareConfig``.
- :mod:`pluralis.welfare.plots`: Fig. 5 violins, representativeness and weight plots.
"""
