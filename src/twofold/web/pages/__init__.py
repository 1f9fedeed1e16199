"""Pages Twofold serves to people: server-rendered HTML (Jinja2 templates under `templates/`)
with a small script and style sheet under `static/`, no build step. Both folders ship in the
wheel as package data."""
