"""Files from arrays and tables: sequence logos, mutation maps, attribution logos, image overlays,
charts and self-contained HTML pages. Nothing here runs a model."""
