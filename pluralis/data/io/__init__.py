"""Readers and writers of studies: one module per data format, all behind one registry.

:mod:`pluralis.data.io.registry` holds the registry (:class:`~pluralis.data.io.registry.DataFormat`,
:func:`~pluralis.data.io.registry.load_study`, :func:`~pluralis.data.io.registry.save_study`,
:func:`~pluralis.data.io.registry.detect_format`); every other module here defines one format as
``FORMAT``: ``prism`` (release folder), ``wide`` (one row per interaction), ``parquet``
(folder of tables), ``arena`` (battles), ``community_alignment``, ``hf`` (hub cache).
"""
