"""Identity: projects, users, roles and tokens (the service behind /identity and
``kumo project|user|role|bootstrap``)."""
