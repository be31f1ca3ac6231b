"""Qt widgets: windows, views and dialogs. They talk to services only."""
