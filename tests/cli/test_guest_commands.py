"""kumo render / explain / lint from the command line: output, exit codes, clear errors."""

import json
from importlib import resources

import pytest

from kumo.cli.main import main

SEEDS = resources.files("kumo.data").joinpath("seed-images")
CERN = str(SEEDS.joinpath("cern-windows10.json"))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_render_prints_whole_domain_with_disk_path(capsys):
    code, out, _ = run(capsys, "render", "--image", CERN, "--disk-path", "/srv/w10.qcow2",
                       "--guest-timezone", "Asia/Shanghai")
    assert code == 0
    assert out.startswith('<domain type="kvm">')
    assert '<source file="/srv/w10.qcow2"/>' in out
    assert '<clock offset="timezone" timezone="Asia/Shanghai">' in out


def test_render_from_properties_only(capsys):
    code, out, _ = run(capsys, "render", "-p", "os_type=linux", "-p", "os_distro=ubuntu",
                       "--hypervisor", "qemu", "--flavor", "1,512,1")
    assert code == 0
    assert out.startswith('<domain type="qemu">')
    assert '<memory unit="MiB">512</memory>' in out


def test_explain_json_has_rule_source_and_value(capsys):
    code, out, _ = run(capsys, "explain", "--image", CERN, "--format", "json")
    assert code == 0
    decisions = {d["field"]: d for d in json.loads(out)["decisions"]}
    assert decisions["os_type"] == {
        "field": "os_type", "value": "windows", "rule": "os-type.inferred",
        "source": "os_distro", "source_value": "windows",
        "reason": "os_type is not set; os_distro identifies Windows (release unknown), so the "
                  "guest is treated as windows (os_distro=windows alone is enough)"}
    assert decisions["hyperv.spinlocks"]["value"] == "on retries=8191"


def test_explain_table(capsys):
    code, out, _ = run(capsys, "explain", "-p", "os_distro=win2k19")
    assert code == 0
    assert "clock.windows-localtime" in out


def test_lint_exit_1_on_error_and_json_findings(capsys):
    code, out, _ = run(capsys, "lint", "-p", "os_type=linux", "-p", "os_distro=windows",
                       "--format", "json")
    assert code == 1
    assert [(f["id"], f["severity"]) for f in json.loads(out)] == [
        ("os-type-contradiction", "error"), ("os-version-unknown", "warning")]


def test_lint_exit_0_with_warnings_only(capsys):
    code, out, _ = run(capsys, "lint", "--image", CERN, "--format", "json")
    assert code == 0
    assert [f["id"] for f in json.loads(out)] == ["os-type-missing", "os-version-unknown",
                                                   "guest-agent-off"]


@pytest.mark.parametrize("argv, message", [
    (["render", "-p", "hw_disk_bus=floppy"],
     "kumo: error: hw_disk_bus='floppy' is invalid: allowed one of fdc, ide, sata, scsi, usb, "
     "virtio, xen, lxc, uml"),
    (["render", "--image", "/nonexistent.json"], "kumo: error: --image '/nonexistent.json' "
                                                 "does not exist"),
    (["render", "-p", "novalue"], "kumo: error: -p 'novalue' is invalid: allowed KEY=VALUE, "
                                  "e.g. -p os_type=windows"),
    (["render"], "kumo: error: nothing to work on: give --image FILE and/or -p KEY=VALUE"),
    (["render", "-p", "os_type=linux", "--flavor", "2"],
     "kumo: error: flavor '2' is invalid: allowed 'VCPUS,RAM_MIB,DISK_GIB' (e.g. 2,4096,40) "
     "or 'vcpus=2,ram=4096,disk=40'"),
    (["render", "-p", "os_type=linux", "--guest-timezone", "Moon/Base"],
     "kumo: error: --guest-timezone 'Moon/Base' is invalid: allowed an IANA time zone name "
     "such as Asia/Shanghai"),
    (["render", "-p", "os_type=linux", "-p", "hw_tpm_version=1.2", "-p", "hw_tpm_model=tpm-crb"],
     "kumo: error: [tpm-crb-needs-2.0] hw_tpm_model=tpm-crb needs hw_tpm_version=2.0, not 1.2 "
     "(the CRB interface exists only for TPM 2.0) (fix: set hw_tpm_version=2.0 or "
     "hw_tpm_model=tpm-tis)"),
], ids=["invalid-property", "missing-file", "bad-p", "nothing", "bad-flavor", "bad-tz",
        "impossible"])
def test_bad_input_is_one_clear_line_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.strip() == message


def test_host_caps_file(capsys, tmp_path):
    caps = tmp_path / "caps.xml"
    caps.write_text("<capabilities/>")
    code, _, err = run(capsys, "render", "-p", "os_type=linux", "--host-caps", str(caps))
    assert code == 2
    assert err.strip() == ("kumo: error: host capabilities must be a libvirt "
                           "<domainCapabilities> document (virsh domcapabilities), got "
                           "<capabilities>")


def test_render_hyperv_powershell_and_json(capsys):
    gen2 = str(SEEDS.joinpath("hyperv-image-gen2.json"))
    code, ps1, _ = run(capsys, "render", "--image", gen2, "--hypervisor", "hyperv")
    assert code == 0
    assert "New-VM" in ps1 and "-Generation 2" in ps1
    code, out, _ = run(capsys, "render", "--image", gen2, "--hypervisor", "hyperv",
                       "--format", "json")
    assert code == 0
    assert json.loads(out)["generation"] == 2


def test_render_json_only_for_hyperv(capsys):
    code, _, err = run(capsys, "render", "-p", "os_type=linux", "--format", "json")
    assert (code, err.strip()) == (2, "kumo: error: --format json is invalid for hypervisor kvm: "
                                      "allowed only with --hypervisor hyperv")


def test_render_xen_pv_with_kernel(capsys):
    code, out, _ = run(capsys, "render", "-p", "os_distro=centos", "-p", "os_version=7.1",
                       "-p", "vm_mode=xen", "--hypervisor", "xen", "--kernel", "/boot/vmlinuz",
                       "--initrd", "/boot/initrd.img", "--bridge", "xenbr1")
    assert code == 0
    assert out.startswith('<domain type="xen">')
    assert "<kernel>/boot/vmlinuz</kernel>" in out
    assert "xenbr1" in out


def test_render_with_several_errors_prints_the_findings_table(capsys, monkeypatch):
    """Several errors are a table on stderr (one row per finding, ids whole), not one
    1,000-character line; exit 2, nothing on stdout."""
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = run(capsys, "render", "--hypervisor", "hyperv", "-p", "os_distro=win2k3",
                         "-p", "hw_machine_type=hyperv-gen2", "-p", "hw_architecture=i686",
                         "-p", "disk_format=vhd", "-p", "hw_disk_bus=ide", "-p",
                         "hw_tpm_version=2.0", "--host-version", "6.2")
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == "kumo: error: the guest cannot be built as asked: 5 errors"
    assert max(len(line) for line in lines) <= 100
    ids = [line.split("|")[1].strip() for line in lines
           if line.startswith("| ") and line.split("|")[1].strip()]
    assert ids == ["id", "hyperv-gen2-host-too-old", "hyperv-gen2-32bit", "hyperv-gen2-vhd",
                   "hyperv-tpm-unsupported", "hyperv-gen2-ide"]


def test_image_from_stdin(monkeypatch, capsys):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(
        {"name": "w10", "properties": {"os_distro": "win10"}})))
    code, out, _ = run(capsys, "lint", "--image", "-", "-f", "value", "-c", "id")
    assert (code, out) == (0, "os-type-missing\nguest-agent-off\n")
