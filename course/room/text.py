"""Participant text made safe to show: Markdown rendered without raw HTML, then sanitised."""

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_markdown(text: str) -> str:
    """HTML for a brief written in Markdown; raw HTML shows as text, links cannot run script.

    >>> render_markdown("**Hi** <script>alert(1)</script>")
    '<p><strong>Hi</strong> &lt;script&gt;alert(1)&lt;/script&gt;</p>\\n'
    """
    return nh3.clean(_markdown.render(text or ""), url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")
