"""Tests for desktop.services."""
