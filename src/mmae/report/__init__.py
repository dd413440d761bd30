"""Reports and pictures: report.html of a test run, its figures, heatmap and grid PNGs."""
