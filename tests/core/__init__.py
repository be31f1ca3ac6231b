"""Tests for desktop.core."""
