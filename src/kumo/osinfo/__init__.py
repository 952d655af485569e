"""kumo.osinfo"""
