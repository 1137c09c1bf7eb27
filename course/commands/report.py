"""`igcb report`: the cohort report (HTML and PDF) for one cohort or several."""

COMMANDS = []
