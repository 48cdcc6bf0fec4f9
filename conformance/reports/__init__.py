"""Reports of suite runs: the verdict by requirement, its JSON envelope and schema, and the HTML page."""
