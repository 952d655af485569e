"""<metadata><kumo:instance>: the mark kumo puts on every domain it defines.

libvirt keeps an application's data in the domain's <metadata>, in the application's own XML
namespace, one top-level element per namespace with sub-elements for structure
(https://libvirt.org/formatdomain.html#general-metadata; since libvirt 0.9.10, and elements
outside a namespace are dropped). Nova writes ``<nova:instance>`` in
``http://openstack.org/xmlns/libvirt/nova/1.1``; kumo writes ``<kumo:instance>`` in
``https://kumo.dev/xmlns/instance/1.0``, carrying the installation (one id per database), the
instance uuid, its project, flavor and image. A domain is this installation's only when its mark
names this installation's id: another kumo (another database) on the same daemon, or an
operator's own domain that happens to use kumo's naming, is not (``kumo host orphans``).
"""

from __future__ import annotations

from kumo.backends.libvirt_xml.mapper import Prop, XmlNode
from kumo.guest.spec import InstanceMark

KUMO_NS = "https://kumo.dev/xmlns/instance/1.0"


class KumoInstance(XmlNode):
    tag = f"{{{KUMO_NS}}}instance"
    nsmap = {"kumo": KUMO_NS}
    installation = Prop("installation")
    uuid = Prop("uuid")
    project = Prop("project")
    flavor = Prop("flavor")
    image = Prop("image")


def mark_node(mark: InstanceMark | None) -> KumoInstance | None:
    if mark is None:
        return None
    return KumoInstance(installation=mark.installation, uuid=mark.instance_uuid,
                        project=mark.project, flavor=mark.flavor, image=mark.image)

