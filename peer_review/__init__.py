"""Cohorts for IG capacity development: roster checks, study groups, tutors, facilitation
rota, peer-review allocation, score aggregation and mentoring. Pure functions on pandas
DataFrames; the `igcb` commands (course/commands/cohort.py) do the file I/O."""
