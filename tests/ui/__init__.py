"""Tests for desktop.ui."""
