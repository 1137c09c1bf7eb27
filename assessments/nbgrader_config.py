"""nbgrader configuration of the igcb course (the course root is this folder).

`igcb assignments`, `igcb grade` and `igcb feedback` read this file; so do plain
`nbgrader ...` commands run from this folder, and the formgrader.
"""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "igcb"
# Graders must never copy these back into a working copy or a release.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "gradebook.db",
]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Limits for plain `nbgrader autograde`; `igcb grade` has its own options with these defaults.
c.Execute.timeout = 30
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows grades and comments but not the hidden tests, so an assignment can be reused.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
