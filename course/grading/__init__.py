"""Assessments: nbgrader course root, cohort autograder, feedback and grade exports."""
