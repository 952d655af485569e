"""kumo.hosts"""
