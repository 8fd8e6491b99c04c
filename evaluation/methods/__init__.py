"""Statistical methods used by the evaluation workbook.

Submodules:

* :mod:`evaluation.methods.its` -- interrupted time series by segmented regression.
* :mod:`evaluation.methods.spc` -- statistical process control (XmR) charts to NHS England
  "Making Data Count" rules.

Nothing is imported here so that ``import evaluation.methods`` stays cheap; statsmodels is only
loaded when the ITS module is imported.
"""
