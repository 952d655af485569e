"""Guest: the GuestSpec model and the policy that fills it from image metadata."""
