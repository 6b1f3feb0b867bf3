"""Builds the hybrid template library: sources -> dataset writer -> storage -> catalogue."""
