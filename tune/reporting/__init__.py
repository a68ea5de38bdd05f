"""The HTML report of a search (`python tune/report.py`), one module per job.

read.py (the experiment directory contract) -> sections.py / ensemble_section.py (one HTML section each, built
with markup.py and the SVG figures of plots.py) -> page.py (the page, the file, the command line).
"""
