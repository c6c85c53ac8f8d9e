"""Reads behind the sample endpoints, one module per job.

- :mod:`.values`: a sample column or custom property as an SQL expression, values as JSON;
- :mod:`.filtering`: the filtered, ordered sample queryset and its count (every endpoint
  that takes ``filters`` goes through :func:`.filtering.filtered_samples`);
- :mod:`.coverage`: the maintained per-field counts and collection-date bounds;
- :mod:`.profiles`: genome pages (JSON and VCF) and the batches the CSV export streams;
- :mod:`.statistics`: totals, metadata coverage and every plot;
- :mod:`.properties`: the property lists and choosers of sonar's frontend;
- :mod:`.lookups`: samples, sequences, lineages and data sets by name;
- :mod:`.database`: database status and info.
"""
