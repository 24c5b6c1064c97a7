"""The staff web pages (Today, Exam, Unmatched, Upload, Outbox, Audit, System status).

An app of its own (label "staffpages") so that it owns its one table, `Incident`, and its
translations; templates and static files live with the clinic app (templates/clinic/staff/).
"""
