"""kumo's HTTP side: one FastAPI app (``kumo.api.app.create_app``) served by ``kumo serve``,
with a router per area (``kumo.api.routers``). The OpenStack APIs join as routers of their own."""
