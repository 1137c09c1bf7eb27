"""Links that open a module's notebook in the course's JupyterHub, through nbgitpuller.

nbgitpuller clones (or updates) the course repository into the participant's home on first
click and opens the notebook in JupyterLab; the participant's own edits are kept on later pulls.
"""

from urllib.parse import quote, urlencode

from pydantic import AnyHttpUrl, BaseModel, ConfigDict


class Hub(BaseModel):
    """Where participants run the labs: the hub, and the repository it pulls the course from."""

    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    repository: AnyHttpUrl
    branch: str = "main"


def repository_folder(repository: str) -> str:
    """The folder nbgitpuller clones into: the repository's last path part, without `.git`.

    >>> repository_folder("https://example.org/igcb/course.git")
    'course'
    """
    return repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


def launch_link(hub: Hub, path_in_repository: str) -> str:
    """The nbgitpuller link that opens `path_in_repository` (e.g. modules/01-x/lab.ipynb).

    >>> hub = Hub(url="https://hub.example.org", repository="https://example.org/igcb/course")
    >>> launch_link(hub, "modules/01-x/lab.ipynb")  # doctest: +NORMALIZE_WHITESPACE
    'https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2Fexample.org%2Figcb%2Fcourse&branch=main&urlpath=lab%2Ftree%2Fcourse%2Fmodules%2F01-x%2Flab.ipynb'
    """
    repository = str(hub.repository).rstrip("/")
    urlpath = f"lab/tree/{repository_folder(repository)}/{path_in_repository}"
    query = urlencode({"repo": repository, "branch": hub.branch, "urlpath": urlpath},
                      quote_via=quote, safe="")
    return f"{str(hub.url).rstrip('/')}/hub/user-redirect/git-pull?{query}"
