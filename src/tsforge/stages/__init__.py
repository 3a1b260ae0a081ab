"""One module per pipeline stage: the stage's logic as typed functions that a unit test can
call without DVC, and its MLflow logging and registration as thin wrappers beside them.

``pipelines/<stage>.py`` is the wiring: it parses params.yaml, reads its inputs through
:mod:`tsforge.catalog`, calls its module here and writes its outputs.
"""
