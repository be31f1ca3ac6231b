"""Tests for desktop.backends."""
