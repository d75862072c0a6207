"""MkDocs hooks for the documentation site (registered under ``hooks:`` in ``mkdocs.yml``).

* The home page is the repository's ``README.md``: ``docs/index.md`` holds only the line
  ``--8<-- "README.md"``, which :func:`on_page_markdown` replaces by the README's text. The README
  links to ``docs/...`` (right on GitHub, where it sits at the root); those links lose the
  ``docs/`` prefix here, and links to other files of the repository (not part of the site) become
  plain text.
* The notebooks live in ``notebooks/``, outside ``docs/``. :func:`on_files` adds every
  ``notebooks/*.ipynb`` to the site under ``notebooks/``, before mkdocs-jupyter converts them.
* :func:`on_serve` has ``mkdocs serve`` watch the README, the notebooks and ``src/`` as well.

This file is not a page: ``exclude_docs`` in ``mkdocs.yml`` keeps it out of the site.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.high_order_layers_torch")

#: The line of ``docs/index.md`` that stands for the README.
README_MARKER = '--8<-- "README.md"'
#: Folder of the notebooks, relative to the repository root, and their place in the site.
NOTEBOOK_DIR = "notebooks"

# ``[text](target)`` and ``![alt](target)``; the target has no spaces or parentheses (the
# README's links are all of that form).
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EXTERNAL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|#|/)")


def _repo_root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def rewrite_readme_links(markdown: str) -> str:
    """Make the README's relative links work from the site's home page.

    ``docs/x`` becomes ``x`` (a page or image of the site); any other relative link points to a
    file that is not in the site and is replaced by its text (an image by its alt text).
    External links, anchors and fenced code blocks are left alone.
    """

    def fix(match: re.Match[str]) -> str:
        target = match["target"]
        if _EXTERNAL.match(target):
            return match[0]
        if target.startswith("docs/"):
            return f"{match['bang']}[{match['text']}]({target.removeprefix('docs/')})"
        return match["text"]

    out, in_fence = [], False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        out.append(line if in_fence else _LINK.sub(fix, line))
    return "".join(out)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Insert the README (links rewritten) where ``docs/index.md`` has the marker line."""
    if page.file.src_uri != "index.md" or README_MARKER not in markdown:
        return markdown
    readme = (_repo_root(config) / "README.md").read_text(encoding="utf-8")
    return markdown.replace(README_MARKER, rewrite_readme_links(readme))


@event_priority(100)  # before mkdocs-jupyter's on_files turns .ipynb files into pages
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add ``notebooks/*.ipynb`` from the repository root to the site, under ``notebooks/``."""
    root = _repo_root(config)
    notebooks = sorted((root / NOTEBOOK_DIR).glob("*.ipynb"))
    if not notebooks:
        log.info("no notebooks found in %s", root / NOTEBOOK_DIR)
    for path in notebooks:
        uri = f"{NOTEBOOK_DIR}/{path.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File(uri, str(root), config.site_dir, config.use_directory_urls))
    return files


def on_serve(server, config: MkDocsConfig, builder):
    """Make ``mkdocs serve`` also rebuild when the README, the notebooks or the sources change."""
    root = _repo_root(config)
    for path in (root / "README.md", root / NOTEBOOK_DIR, root / "src"):
        if path.exists():
            server.watch(str(path))
    return server
