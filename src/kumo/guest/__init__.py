"""kumo.guest"""
