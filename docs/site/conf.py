"""Sphinx configuration of the course site (built by scripts/build_site.py from the executed notebooks).

Offline by construction: MathJax is served from the site itself (sphinx-mathjax-offline); an explorer's
output is its HTML (a picture and its state) instead of a widget view, and the site's own module
(``_static/ddpm-edu-explorers.js``, written by build_site.py from the package) mounts it live, with no
widget manager; the theme (sphinx-book-theme) ships its fonts and scripts.
"""
project = "ddpm-edu"
author = "the ddpm-edu authors"
copyright = "ddpm-edu"
extensions = ["myst_nb", "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_execution_mode = "off"                     # the notebooks arrive executed (by the test run or by make site)
nb_ipywidgets_js = {}                         # no require.js or widget manager from a CDN
# a widget output has its HTML (a picture and the explorer's state) beside its widget view: show the HTML
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
nb_output_stderr = "show"
html_theme = "sphinx_book_theme"
html_title = "ddpm-edu: the DDPM training loss, derived, plotted and trained"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "search_bar_text": "Search the course",
}
html_static_path = ["_static"]
html_css_files = ["ddpm-edu.css", "ddpm-edu-explorers.css"]
html_js_files = [("ddpm-edu-explorers.js", {"type": "module"})]
html_show_sourcelink = False
html_copy_source = False
exclude_patterns = ["_build"]
suppress_warnings = ["mystnb.unknown_mime_type"]


def setup(app):
    app.set_html_assets_policy("always")      # MathJax on every page: math in titles renders in the navigation


# a page that starts with no theme mode stored makes the theme log a console error ("invalid theme mode"):
# start every reader in the light theme (the theme's switch still works)
html_context = {"default_mode": "light"}
