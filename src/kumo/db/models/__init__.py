"""kumo's persistent models (SQLAlchemy 2.0 declarative, ``Mapped[...]``).

    table                model              owned by (tenancy)
    hosts                Host               operator
    aggregates           Aggregate          operator
    aggregate_hosts      (association)
    aggregate_metadata   AggregateMetadata
    images               Image              project_id (Glance owner), user_id
    image_properties     ImageProperty      (image)
    image_tags           ImageTag           (image)
    image_members        ImageMember        (image; a project it is shared with)
    flavors              Flavor             operator
    flavor_extra_specs   FlavorExtraSpec    (flavor)
    flavor_projects      FlavorProject      (flavor; projects allowed a private flavor)
    key_pairs            KeyPair            project_id, user_id
    server_groups        ServerGroup        project_id, user_id
    instances            Instance           project_id, user_id
    journal              JournalEntry       (instance)
    image_cache_volumes  ImageCacheVolume   (host)
    periodic_runs        PeriodicRun        controller
    host_images          HostImage          (host; the image cache there and its upload state)
    inventory_epoch      InventoryEpoch     (the scheduler's reload token)
    projects             Project            (identity)
    users                User               (identity)
    role_assignments     RoleAssignment     (user, project)
    tokens               Token              (user, project; stored as sha256)
    installation         Installation       (one row: this installation's id)
    networks             Network            project_id (shared: any project attaches)
    subnets              Subnet             (network)
    ports                Port               (network, subnet, instance): MAC, fixed IP
    security_groups      SecurityGroup      project_id
    security_group_rules SecurityGroupRule  (group)
    port_security_groups (association)      (port, group)
    reconcile_runs       ReconcileRun       user_id, project_id (an operator's fleet change)
    reconcile_items      ReconcileItem      (run; one per instance it selected)
    ec2_credentials      Ec2Credential      user_id, project_id (secret sealed)
    ec2_tags             Ec2Tag             (instance), project_id
    ec2_request_signatures Ec2RequestSignature (replay window)
    ec2_client_tokens    Ec2ClientToken     project_id + token -> reservation (idempotency)
    migrations           Move               (instance): cold migrations and resizes
"""

from kumo.db.base import Base
from kumo.db.models.ec2 import (Ec2ClientToken, Ec2Credential, Ec2RequestSignature,
                                Ec2Tag)
from kumo.db.models.flavors import Flavor, FlavorExtraSpec, FlavorProject
from kumo.db.models.hosts import (Aggregate, AggregateMetadata, Host, InventoryEpoch, VirtType,
                                  aggregate_hosts, hypervisor_version_key)
from kumo.db.models.host_images import HostImage, HostImageState
from kumo.db.models.identity import Project, Role, RoleAssignment, Token, User
from kumo.db.models.images import (PROPERTY_VALUE_MAX, Image, ImageMember, ImageProperty,
                                   ImageStatus, ImageTag, MemberStatus, Visibility)
from kumo.db.models.installation import Installation
from kumo.db.models.instances import (Instance, KeyPair, PowerState, ServerGroup,
                                      ServerGroupPolicy)
from kumo.db.models.networks import (Network, NetworkMode, Port, RuleDirection,
                                     SecurityGroup, SecurityGroupRule, Subnet,
                                     port_security_groups)
from kumo.db.models.moves import Move, MoveKind, MoveStatus
from kumo.db.models.journal import UNFINISHED_STATES, JournalEntry, JournalState
from kumo.db.models.reconcile import (ClockState, ItemState, ReconcileItem, ReconcileRun,
                                      RunState)
from kumo.db.models.service import ImageCacheVolume, PeriodicRun

__all__ = [
    "Aggregate", "AggregateMetadata", "Base", "Ec2ClientToken", "Ec2Credential",
    "Ec2RequestSignature", "Ec2Tag", "Flavor", "FlavorExtraSpec", "FlavorProject",
    "Host", "HostImage", "HostImageState", "Image", "ImageCacheVolume", "ImageMember",
    "ImageProperty", "ImageStatus", "ImageTag", "Installation", "Instance", "InventoryEpoch",
    "ClockState", "ItemState", "ReconcileItem", "ReconcileRun", "RunState",
    "JournalEntry", "JournalState", "KeyPair", "MemberStatus", "Move", "MoveKind",
    "MoveStatus", "Network", "NetworkMode", "Port",
    "RuleDirection", "SecurityGroup", "SecurityGroupRule", "Subnet", "port_security_groups", "PROPERTY_VALUE_MAX",
    "PeriodicRun", "PowerState", "Project", "Role", "RoleAssignment", "ServerGroup",
    "ServerGroupPolicy", "Token", "UNFINISHED_STATES", "User", "VirtType", "Visibility",
    "aggregate_hosts", "hypervisor_version_key",
]
