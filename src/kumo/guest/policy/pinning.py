"""Rules: vCPU pinning (Nova's hw_cpu_policy / hw_cpu_thread_policy).

Dedicated (pinned) vCPUs need a host that sets cores aside and a scheduler that counts them
(Nova's PCPU inventory, nova/virt/hardware.py). kumo shares host CPUs between guests and does not
count dedicated ones, so ``dedicated`` and ``mixed`` are errors rather than guests that silently
float; ``shared`` is what every kumo guest gets. The thread policy only means something for
dedicated vCPUs (Nova refuses it with ``shared`` too: ImageCPUThreadPinningForbidden).
"""

from __future__ import annotations

from kumo.guest.policy.context import Context


def check_pinning(c: Context) -> None:
    d = c.d
    policy = c.props.get("hw_cpu_policy")
    if policy is not None:
        name, given = c.prop("hw_cpu_policy")
        if policy == "shared":
            d.decide("cpu.policy", "shared", "cpu.shared", name, given,
                     "vCPUs float over the host's CPUs, shared with other guests")
        else:
            d.error("cpu-policy-unsupported", f"hw_cpu_policy={given}: kumo does not pin vCPUs "
                    "to dedicated host CPUs", "remove hw_cpu_policy or set it to shared")
    if "hw_cpu_thread_policy" in c.props:
        name, given = c.prop("hw_cpu_thread_policy")
        d.error("cpu-thread-policy-unsupported", f"hw_cpu_thread_policy={given} applies to "
                "dedicated (pinned) vCPUs, which kumo does not offer", "remove "
                "hw_cpu_thread_policy")
