"""Evaluation: the instruments of a plan, survey import and the cohort report."""
