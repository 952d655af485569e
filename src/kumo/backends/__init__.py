"""kumo.backends"""
