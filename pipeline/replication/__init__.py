"""Replication: published numbers, the consistency audit, the scorecard.

Front door::

    from pipeline.replication import load_published, compare_value, Scorecard, audit_fit_table
    pub = load_published("studies/<study>/published")    # key -> PublishedValue
    audit_fit_table({"chisq": "293.157", "cmin_df": "1.559", "rmsea": ".036"}, n=100)
    sc = Scorecard(pub); sc.add(key, value); sc.to_frame()
    status_of(pub[key], [Evidence(value, respondent=True, synthetic=False)])  # the one status

Layers inside: :mod:`~pipeline.replication.published` (the published-value
model) <- :mod:`~pipeline.replication.audit` (generic checks, formulas from
:mod:`pipeline.sem.fit_indices`) and :mod:`~pipeline.replication.scorecard`.
A study's own rules live in its folder (``studies/amirova2021/audit_rules.py``).
"""
from pipeline.replication.audit import (AuditResult, Inconsistency, audit_counts,
                                        audit_critical_ratios, audit_fit_table,
                                        audit_fit_table_model, audit_identities,
                                        audit_reliability, audit_repeats)
from pipeline.replication.published import (STATUSES, PublishedValue, compare_value,
                                            load_published, parse_number, printed_decimals)
from pipeline.replication.scorecard import (Evidence, KeyStatus, Scorecard, collect, join_wave,
                                            render_index, status_of)

__all__ = ["load_published", "compare_value", "parse_number", "printed_decimals",
           "PublishedValue", "STATUSES",
           "audit_fit_table", "audit_fit_table_model", "audit_reliability", "audit_counts",
           "audit_critical_ratios", "audit_identities", "audit_repeats", "AuditResult",
           "Inconsistency", "Scorecard", "collect", "render_index", "status_of", "Evidence",
           "KeyStatus", "join_wave"]
