"""Tests for desktop.engine."""
