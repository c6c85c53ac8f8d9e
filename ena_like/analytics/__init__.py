"""Analytics beyond sonar's contract (issue 12): how common a mutation is among the filtered
samples, how that changes over time, and counts grouped by any fields.

Every question starts from the sonar filter (``reference`` + ``filters``, compiled once by
:func:`ena_like.queries.filtering.filtered_samples`) and is answered by set-based SQL over the
filtered samples, never a loop over them:

- :mod:`.mutations`: count, coverage (samples with data at the position) and proportion per
  mutation, over all filtered samples or per time bin; the SQL a benchmark calls;
- :mod:`.aggregated`: sample counts grouped by columns, properties and derived keys
  (``collection_week``, ``lineage_group``);
- :mod:`.schemas`: parameters and responses of the ``/api/analytics/`` endpoints.
"""
