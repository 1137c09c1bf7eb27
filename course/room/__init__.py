"""The course room: a JupyterHub service where the cohort sees its groups and does peer review.

Thin Tornado handlers over `course.cohort.reviewing` (which holds every access rule),
server-rendered Jinja2 templates with no JavaScript, and a JSON API under api/ that
accepts hub API tokens only. Started by `igcb hub` as a managed hub service; see app.py.
"""
