"""Tests for desktop.cli."""
