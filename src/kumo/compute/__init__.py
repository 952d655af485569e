"""kumo.compute: the service layer -- one way to change state, for the CLI and the API alike.

    context            RequestContext (user, project, roles): every service function takes one
    env                ComputeEnv: database, settings, host connections, kumo's storage pool
    hosts              add/list/show/enable/disable hosts; orphans kumo's names find on a host
    images             create/list/show/update/delete images; image_store checks and keeps data
    flavors            create/list/show/delete flavors
    servers            create/list/show/start/stop/reboot/rebuild/delete, set_property; create
                       places through kumo.scheduler.service (the one way to place)
    spawn / power / teardown   the host-side steps of those operations, and their recovery
    heartbeat          the hosts' heartbeats, kept by the controller (ComputeUp reads them)
    records            short units of work on an instance record; claims released with it
    instance_request   the one GuestRequest builder from a stored instance
    config_drive       the config-2 ISO (metadata, SSH keys for Linux, admin password for Windows)
    journal            journal-before-act and recover() at controller start
    naming             kumo's names for domains and volumes (and recognising them again)
    failpoints         test-only crash injection (KUMO_FAILPOINT)
"""
