"""kumo.cli"""
