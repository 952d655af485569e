"""Guest policy rules, one module per concern; kumo.guest.build runs them in order."""
